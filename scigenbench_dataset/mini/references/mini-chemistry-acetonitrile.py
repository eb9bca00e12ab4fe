"""Reference figure: Lewis-style structural formula of acetonitrile, CH3-C#N."""
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-0.5, 8.5)
ax.set_ylim(-3.0, 3.0)
ax.set_aspect("equal")
ax.axis("off")

atom_style = dict(ha="center", va="center", fontsize=22, fontweight="bold")
c1, c2, n = (2.5, 0.0), (5.0, 0.0), (7.3, 0.0)
hydrogens = [(0.4, 0.0), (2.5, 2.1), (2.5, -2.1)]

# Atoms (C1/C2 names are the atom labels the question refers to).
ax.text(*c1, "C1", **atom_style)
ax.text(*c2, "C2", **atom_style)
ax.text(*n, "N", color="tab:blue", **atom_style)
for h in hydrogens:
    ax.text(*h, "H", **atom_style)

line = dict(color="black", lw=2.5, solid_capstyle="round")
# C1-H single bonds.
ax.plot([0.8, 1.95], [0, 0], **line)
ax.plot([2.5, 2.5], [0.45, 1.65], **line)
ax.plot([2.5, 2.5], [-0.45, -1.65], **line)
# C1-C2 single bond.
ax.plot([3.05, 4.45], [0, 0], **line)
# C2≡N triple bond: three parallel lines.
for dy in (-0.22, 0.0, 0.22):
    ax.plot([5.55, 6.9], [dy, dy], **line)
# Lone pair on N: two dots to its right.
ax.plot([7.8, 7.8], [0.15, -0.15], "o", color="black", markersize=5)

ax.set_title("Acetonitrile, CH₃CN", fontsize=16)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
