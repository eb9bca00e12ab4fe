"""Reference figure: electric field of two point charges on the x-axis."""
import matplotlib.pyplot as plt
import numpy as np

# Charges in microcoulombs and positions in metres.
q1, x1 = 4.0, 0.0
q2, x2 = -1.0, 0.30

fig, ax = plt.subplots(figsize=(6, 4.5))

# Field of the pair on a grid (the constant k is irrelevant for line shapes).
x, y = np.meshgrid(np.linspace(-0.45, 0.95, 300), np.linspace(-0.5, 0.5, 220))
ex = np.zeros_like(x)
ey = np.zeros_like(y)
for q, xq in ((q1, x1), (q2, x2)):
    dx, dy = x - xq, y
    r3 = np.maximum(np.hypot(dx, dy), 0.02) ** 3
    ex += q * dx / r3
    ey += q * dy / r3

# Start lines on a small circle around q1 so every line leaves the positive charge.
angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
seeds = np.column_stack([x1 + 0.03 * np.cos(angles), 0.03 * np.sin(angles)])
ax.streamplot(x, y, ex, ey, start_points=seeds, color="tab:gray", linewidth=0.9,
              density=3, arrowsize=1.0, broken_streamlines=False)

# The x-axis.
ax.annotate("", xy=(0.93, 0), xytext=(-0.43, 0),
            arrowprops=dict(arrowstyle="->", color="black", lw=1.0))
ax.text(0.93, -0.04, "x", fontsize=12, ha="right", va="top")

# The two charges.
ax.add_patch(plt.Circle((x1, 0), 0.028, color="tab:red", zorder=5))
ax.add_patch(plt.Circle((x2, 0), 0.028, color="tab:blue", zorder=5))
ax.text(x1, 0, "+", color="white", fontsize=14, ha="center", va="center",
        fontweight="bold", zorder=6)
ax.text(x2, 0, "−", color="white", fontsize=14, ha="center", va="center",
        fontweight="bold", zorder=6)
box = dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.9)
ax.text(x1 - 0.03, 0.06, "q₁ = +4 μC", fontsize=12, ha="right", va="bottom", bbox=box, zorder=7)
ax.text(x2 + 0.03, 0.06, "q₂ = −1 μC", fontsize=12, ha="left", va="bottom", bbox=box, zorder=7)

# Separation between the charges.
ax.annotate("", xy=(x2, -0.13), xytext=(x1, -0.13),
            arrowprops=dict(arrowstyle="<->", color="black", lw=1.2), zorder=7)
ax.text((x1 + x2) / 2, -0.15, "0.30 m", fontsize=12, ha="center", va="top", bbox=box, zorder=7)

ax.set_xlim(-0.45, 0.95)
ax.set_ylim(-0.5, 0.5)
ax.set_aspect("equal")
ax.axis("off")
ax.set_title("Field lines of two point charges", fontsize=13)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
