"""Reference figure: block on a rough 30° incline with its free-body forces."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Arc, Polygon

theta = np.radians(30)
base = 8.0
height = base * np.tan(theta)
up_slope = np.array([np.cos(theta), np.sin(theta)])
normal = np.array([-np.sin(theta), np.cos(theta)])

fig, ax = plt.subplots(figsize=(6, 4.5))

# Incline (wedge) and ground.
ax.add_patch(Polygon([(0, 0), (base, 0), (base, height)], closed=True,
                     fc="#d9d9d9", ec="black", lw=1.5))
ax.plot([-0.5, base + 0.8], [0, 0], color="black", lw=1.5)

# Block resting on the slope.
side, s = 1.3, 4.6
p0 = s * up_slope
corners = [p0, p0 + side * up_slope, p0 + side * (up_slope + normal), p0 + side * normal]
ax.add_patch(Polygon(corners, closed=True, fc="#7fb3d5", ec="black", lw=1.5, zorder=3))
centre = p0 + side / 2 * (up_slope + normal)
top_right = p0 + side * (up_slope + normal)
ax.annotate("m = 2.0 kg", xy=top_right - 0.3 * up_slope, xytext=(top_right[0] + 0.3, top_right[1] + 0.9),
            fontsize=12, ha="left", va="center",
            arrowprops=dict(arrowstyle="-", color="black", lw=0.8))


def force(start, vec, label, offset):
    """Draw a force arrow from start along vec with a label near its tip."""
    end = start + vec
    ax.annotate("", xy=end, xytext=start, zorder=5,
                arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=2, mutation_scale=15))
    ax.text(*(end + offset), label, fontsize=13, color="tab:red", ha="center", va="center")


force(centre, np.array([0, -2.2]), "mg", np.array([0.35, 0.1]))
force(centre, 2.0 * normal, "N", np.array([-0.25, 0.15]))
contact = p0 + side * up_slope
force(contact, 1.5 * up_slope, "f", np.array([0.05, 0.35]))

# Angle of the incline.
ax.add_patch(Arc((0, 0), 3.0, 3.0, theta1=0, theta2=30, color="black", lw=1.2))
ax.text(1.75, 0.42, "30°", fontsize=13, ha="left", va="center")

# Friction coefficient of the surface and the value of g.
mid = 3.0 * up_slope - 0.45 * normal
ax.text(*mid, "μ = 0.20", fontsize=12, ha="center", va="center", rotation=30)
ax.text(0.0, 4.3, "g = 9.8 m/s²", fontsize=12, ha="left", va="center")
ax.text(0.0, 3.8, "released from rest", fontsize=11, ha="left", va="center", style="italic")

ax.set_xlim(-0.7, base + 1.0)
ax.set_ylim(-0.6, height + 0.6)
ax.set_aspect("equal")
ax.axis("off")
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
