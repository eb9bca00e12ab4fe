"""Reference figure: right circular cone with base radius and slant height marked."""
import matplotlib.pyplot as plt
import numpy as np

r, h = 3.0, 4.0          # drawn to scale: the slant height is then 5
squash = 0.3             # ellipse ratio for the base seen in perspective

fig, ax = plt.subplots(figsize=(6, 4.5))

# The sides touch the base ellipse where the tangents from the apex meet it:
# for x²/r² + y²/b² = 1 and apex (0, h) that is y = b²/h.
b = squash * r
t0 = np.arcsin((b * b / h) / b)
t_back = np.linspace(t0, np.pi - t0, 200)                 # hidden part of the rim
t_front = np.linspace(np.pi - t0, 2 * np.pi + t0, 300)    # visible part of the rim
ax.plot(r * np.cos(t_back), b * np.sin(t_back), color="black", lw=1.3, ls="--")
ax.plot(r * np.cos(t_front), b * np.sin(t_front), color="black", lw=1.8)

apex = (0.0, h)
left = (r * np.cos(np.pi - t0), b * np.sin(np.pi - t0))
right = (r * np.cos(t0), b * np.sin(t0))
ax.fill(np.r_[r * np.cos(t_front), apex[0]], np.r_[b * np.sin(t_front), apex[1]],
        color="#d6eaf8", zorder=0)

# Slanted sides to the apex.
ax.plot([left[0], apex[0]], [left[1], apex[1]], color="black", lw=1.8)
ax.plot([right[0], apex[0]], [right[1], apex[1]], color="black", lw=1.8)

# Height (hidden inside the cone, dashed) with a right-angle mark at the centre O.
ax.plot([0, 0], [0, h], color="tab:red", lw=1.3, ls="--")
ax.plot([0, 0.25, 0.25], [0.25, 0.25, 0], color="tab:red", lw=1)
ax.text(-0.15, h / 2, "h", fontsize=14, color="tab:red", ha="right", va="center")

# Radius of the base.
ax.plot([0, r], [0, 0], color="tab:blue", lw=1.8)
ax.plot(0, 0, "ko", ms=4)
ax.text(-0.1, -0.12, "O", fontsize=12, ha="right", va="top")
ax.text(r / 2 + 0.2, 0.12, "r = 3 cm", fontsize=12, color="tab:blue", ha="center", va="bottom")

# Slant height along the right edge.
angle = np.degrees(np.arctan2(-h, r)) + 180   # direction of the edge, for text rotation
ax.text(r / 2 + 0.35, h / 2 + 0.3, "l = 5 cm", fontsize=12, color="darkgreen",
        rotation=angle - 180, rotation_mode="anchor", ha="center", va="bottom")
ax.text(0, h + 0.15, "apex", fontsize=11, ha="center", va="bottom", style="italic")

ax.set_xlim(-4.2, 4.2)
ax.set_ylim(-1.4, 4.8)
ax.set_aspect("equal")
ax.axis("off")
ax.set_title("Right circular cone", fontsize=13)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
