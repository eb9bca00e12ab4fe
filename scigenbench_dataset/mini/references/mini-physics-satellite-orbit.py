"""Reference figure: satellite in a circular orbit above the Earth (not to scale)."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle

R_draw = 5.0        # Earth radius in drawing units
r_orbit = 6.4       # orbit radius, exaggerated so the altitude is readable
phi = np.radians(40)  # angular position of the satellite

fig, ax = plt.subplots(figsize=(6, 4.5))

# Earth and orbit.
ax.add_patch(Circle((0, 0), R_draw, fc="#aed6f1", ec="tab:blue", lw=2))
ax.add_patch(Circle((0, 0), r_orbit, fill=False, ec="gray", lw=1.2, ls="--"))
ax.plot(0, 0, "ko", ms=4)
ax.text(0, 1.2, "Earth", fontsize=13, ha="center", va="center")
ax.text(0, 0.4, "M = 5.97 × 10²⁴ kg", fontsize=11, ha="center", va="center")

# Earth radius drawn towards the lower left.
psi = np.radians(215)
ax.plot([0, R_draw * np.cos(psi)], [0, R_draw * np.sin(psi)], color="black", lw=1.2)
r_mid = 0.5 * R_draw * np.array([np.cos(psi), np.sin(psi)])
r_normal = np.array([-np.sin(psi), np.cos(psi)])
ax.text(*(r_mid - 0.5 * r_normal), "R = 6370 km", fontsize=11, ha="center", va="center",
        rotation=np.degrees(psi) - 180)

# Satellite and its altitude above the surface.
sat = r_orbit * np.array([np.cos(phi), np.sin(phi)])
surface = R_draw * np.array([np.cos(phi), np.sin(phi)])
ax.add_patch(Circle(sat, 0.3, fc="tab:orange", ec="black", zorder=5))
ax.text(sat[0] + 0.45, sat[1] + 0.3, "satellite", fontsize=11, ha="left", va="bottom")
ax.annotate("", xy=surface, xytext=sat - 0.3 * sat / r_orbit,
            arrowprops=dict(arrowstyle="<->", color="black", lw=1.2))
mid = 0.5 * (sat + surface)
ax.text(mid[0] + 0.6, mid[1] - 0.45, "h = 600 km", fontsize=11, ha="left", va="center",
        bbox=dict(fc="white", ec="none", pad=1))

# Velocity: tangent to the orbit, counter-clockwise.
tangent = np.array([-np.sin(phi), np.cos(phi)])
ax.annotate("", xy=sat + 2.2 * tangent, xytext=sat,
            arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=2, mutation_scale=16))
ax.text(*(sat + 2.2 * tangent + np.array([-0.3, 0.1])), "v", fontsize=14, color="tab:red",
        ha="right", va="bottom")

ax.text(-9.6, 6.9, "G = 6.67 × 10⁻¹¹ N·m²/kg²", fontsize=10, ha="left", va="top")
ax.text(9.6, -6.9, "circular orbit (not to scale)", fontsize=9, ha="right", va="bottom",
        style="italic")

ax.set_xlim(-9.8, 9.8)
ax.set_ylim(-7.2, 7.2)
ax.set_aspect("equal")
ax.axis("off")
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
