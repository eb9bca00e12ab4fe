"""Reference figure: the ellipse x²/25 + y²/9 = 1 with its vertices and foci marked."""
import matplotlib.pyplot as plt
import numpy as np

a, b = 5.0, 3.0
c = np.sqrt(a * a - b * b)   # focal distance, used only to place the points

fig, ax = plt.subplots(figsize=(6, 4.5))

# Coordinate axes drawn as arrows through the origin (no numeric ticks).
arrow = dict(arrowstyle="-|>", color="black", lw=1.0, mutation_scale=12)
ax.annotate("", xy=(6.8, 0), xytext=(-6.8, 0), arrowprops=arrow)
ax.annotate("", xy=(0, 4.6), xytext=(0, -4.6), arrowprops=arrow)
ax.text(6.8, -0.25, "x", fontsize=13, ha="right", va="top")
ax.text(0.2, 4.6, "y", fontsize=13, ha="left", va="top")
ax.text(-0.15, -0.15, "O", fontsize=11, ha="right", va="top")

# The ellipse.
t = np.linspace(0, 2 * np.pi, 400)
ax.plot(a * np.cos(t), b * np.sin(t), color="tab:blue", lw=2)
ax.text(2.9, 3.2, "x²/25 + y²/9 = 1", fontsize=13, color="tab:blue", ha="left", va="bottom")

# Vertices on both axes.
for (x, y), label, ha, va, dx, dy in [
        ((a, 0), "(5, 0)", "left", "bottom", 0.12, 0.12),
        ((-a, 0), "(−5, 0)", "right", "bottom", -0.12, 0.12),
        ((0, b), "(0, 3)", "left", "bottom", 0.15, 0.1),
        ((0, -b), "(0, −3)", "left", "top", 0.15, -0.1)]:
    ax.plot(x, y, "ko", ms=5, zorder=5)
    ax.text(x + dx, y + dy, label, fontsize=12, ha=ha, va=va)

# Foci on the major axis, named but without coordinates (they are the answer).
for x, name in ((-c, "F₁"), (c, "F₂")):
    ax.plot(x, 0, "o", color="tab:red", ms=6, zorder=5)
    ax.text(x, -0.3, name, fontsize=13, color="tab:red", ha="center", va="top")

ax.set_xlim(-7.2, 7.2)
ax.set_ylim(-4.8, 4.8)
ax.set_aspect("equal")
ax.axis("off")
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
