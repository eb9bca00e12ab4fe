"""Reference figure: Venn diagram of students studying French and Spanish."""
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Rectangle

fig, ax = plt.subplots(figsize=(6, 4.5))

# Universal set: the whole class.
ax.add_patch(Rectangle((0, 0), 10, 7.5, fill=False, ec="black", lw=1.5))
ax.text(0.25, 7.25, "U: class of 40 students", fontsize=12, ha="left", va="top")

# The two overlapping sets.
ax.add_patch(Circle((3.9, 3.5), 2.4, fc="tab:blue", alpha=0.25, ec="tab:blue", lw=2))
ax.add_patch(Circle((6.1, 3.5), 2.4, fc="tab:orange", alpha=0.25, ec="tab:orange", lw=2))
ax.text(2.6, 6.15, "French: 20", fontsize=12, ha="center", va="bottom", color="tab:blue")
ax.text(7.4, 6.15, "Spanish: 15", fontsize=12, ha="center", va="bottom", color="darkorange")

# Students taking both languages sit in the overlap.
ax.text(5.0, 3.5, "6", fontsize=16, ha="center", va="center", fontweight="bold")
ax.text(5.0, 2.9, "both", fontsize=10, ha="center", va="center", style="italic")

# The unknown region outside both circles.
ax.text(9.7, 0.3, "neither: ?", fontsize=12, ha="right", va="bottom")

ax.set_xlim(-0.2, 10.2)
ax.set_ylim(-0.2, 7.7)
ax.set_aspect("equal")
ax.axis("off")
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
