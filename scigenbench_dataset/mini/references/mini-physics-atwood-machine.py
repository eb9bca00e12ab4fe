"""Reference figure: Atwood machine with two hanging masses over a fixed pulley."""
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Rectangle

fig, ax = plt.subplots(figsize=(6, 4.5))

# Ceiling with hatching and the support rod of the pulley.
ax.add_patch(Rectangle((-2.2, 6.0), 4.4, 0.3, fc="white", ec="black", hatch="///"))
ax.plot([0, 0], [6.0, 5.0], color="black", lw=2)

# Pulley (radius 0.8) centred at (0, 5).
r = 0.8
ax.add_patch(Circle((0, 5.0), r, fc="#e0e0e0", ec="black", lw=2))
ax.add_patch(Circle((0, 5.0), 0.08, fc="black"))
ax.text(0.95, 5.6, "pulley", fontsize=10, ha="left", va="bottom", style="italic")

# String over the pulley down to each block.
left_top, right_top = 1.6, 2.6   # heights of the tops of the blocks
ax.plot([-r, -r], [5.0, left_top], color="black", lw=1.5)
ax.plot([r, r], [5.0, right_top], color="black", lw=1.5)

# Blocks: m1 on the left (smaller), m2 on the right (larger).
ax.add_patch(Rectangle((-r - 0.5, left_top - 1.0), 1.0, 1.0, fc="#7fb3d5", ec="black", lw=1.5))
ax.add_patch(Rectangle((r - 0.65, right_top - 1.3), 1.3, 1.3, fc="#f1948a", ec="black", lw=1.5))
ax.text(-r - 0.7, left_top - 0.5, "m₁ = 3.0 kg", fontsize=12, ha="right", va="center")
ax.text(r + 0.85, right_top - 0.65, "m₂ = 5.0 kg", fontsize=12, ha="left", va="center")

# Tension on each block (equal in a light string over a frictionless pulley).
# Arrow lengths are to scale: 1 unit per m₁g, so T is 1.25 and m₂g is 1.67.
arrow = dict(arrowstyle="-|>", color="tab:red", lw=2, mutation_scale=14)
ax.annotate("", xy=(-r, left_top + 1.25), xytext=(-r, left_top), arrowprops=arrow)
ax.annotate("", xy=(r, right_top + 1.25), xytext=(r, right_top), arrowprops=arrow)
ax.text(-r - 0.15, left_top + 0.9, "T", color="tab:red", fontsize=13, ha="right")
ax.text(r + 0.15, right_top + 0.9, "T", color="tab:red", fontsize=13, ha="left")

# Weights.
ax.annotate("", xy=(-r, left_top - 2.0), xytext=(-r, left_top - 1.0), arrowprops=arrow)
ax.annotate("", xy=(r, right_top - 2.97), xytext=(r, right_top - 1.3), arrowprops=arrow)
ax.text(-r - 0.15, left_top - 1.85, "m₁g", color="tab:red", fontsize=13, ha="right")
ax.text(r + 0.15, right_top - 2.75, "m₂g", color="tab:red", fontsize=13, ha="left")

ax.text(-3.4, 5.2, "light string,\nfrictionless pulley\ng = 9.8 m/s²", fontsize=11,
        ha="left", va="top")

ax.set_xlim(-3.5, 3.5)
ax.set_ylim(-0.6, 6.5)
ax.set_aspect("equal")
ax.axis("off")
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
