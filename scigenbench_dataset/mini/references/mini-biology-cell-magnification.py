"""Reference figure: labelled animal-cell drawing with a scale bar and a measured diameter."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Arc, Circle, Ellipse

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-3.3, 6.0)
ax.set_ylim(-3.6, 3.4)
ax.set_aspect("equal")
ax.axis("off")

# Plasma membrane: a slightly irregular closed outline of radius about 2.5.
t = np.linspace(0, 2 * np.pi, 400)
r = 2.5 + 0.08 * np.sin(5 * t) + 0.05 * np.cos(3 * t)
ax.fill(r * np.cos(t), r * np.sin(t), facecolor="#fdf3e1", edgecolor="darkorange", lw=2.5)

# Nucleus with nucleolus.
ax.add_patch(Circle((-0.5, 0.3), 0.9, facecolor="#c9d8f0", edgecolor="navy", lw=2))
ax.add_patch(Circle((-0.35, 0.45), 0.28, facecolor="navy", edgecolor="navy"))

# Rough ER: wavy membranes curving around the nucleus, studded with ribosomes.
for k, rad in enumerate((1.2, 1.45)):
    ang = np.linspace(np.deg2rad(200), np.deg2rad(300), 80)
    x = -0.5 + rad * np.cos(ang)
    y = 0.3 + rad * np.sin(ang) + 0.05 * np.sin(12 * ang)
    ax.plot(x, y, color="seagreen", lw=2)
    ax.plot(x[::8], y[::8], "o", color="black", markersize=2.5)

# Golgi apparatus: stacked curved cisternae.
for i in range(4):
    ax.add_patch(Arc((1.25, -0.6 - 0.18 * i), 1.0, 0.5, theta1=200, theta2=340,
                     color="purple", lw=2.5))

# Mitochondria with cristae.
for (mx, my, angle) in [(1.0, 1.4, 20), (-1.4, -1.5, -30), (0.7, -1.95, 10)]:
    ax.add_patch(Ellipse((mx, my), 0.8, 0.38, angle=angle, facecolor="#f4b6b6",
                         edgecolor="firebrick", lw=1.5))
    a = np.deg2rad(angle)
    for s in (-0.2, 0.0, 0.2):
        cx, cy = mx + s * np.cos(a), my + s * np.sin(a)
        dx, dy = -0.12 * np.sin(a), 0.12 * np.cos(a)
        ax.plot([cx - dx, cx + dx], [cy - dy, cy + dy], color="firebrick", lw=1)

# Labels with leader lines on the right.
labels = [
    ("plasma membrane", (1.8, 1.75), (3.1, 2.7)),
    ("mitochondrion", (1.3, 1.5), (3.1, 1.9)),
    ("nucleus", (0.3, 0.7), (3.1, 1.1)),
    ("nucleolus", (-0.35, 0.45), (3.1, 0.4)),
    ("Golgi apparatus", (1.7, -0.85), (3.1, -0.5)),
    ("rough ER", (-0.1, -1.2), (3.1, -1.2)),
]
for text, target, where in labels:
    ax.annotate(text, xy=target, xytext=where, fontsize=10, va="center",
                arrowprops=dict(arrowstyle="-", color="gray", lw=0.8))

# Measured diameter across the cell, drawn just below it.
ax.annotate("", xy=(2.5, -2.85), xytext=(-2.5, -2.85),
            arrowprops=dict(arrowstyle="<|-|>", color="black", lw=1.2))
ax.plot([-2.5, -2.5], [-2.95, 0.0], ":", color="gray", lw=0.8)
ax.plot([2.5, 2.5], [-2.95, 0.0], ":", color="gray", lw=0.8)
ax.text(0.0, -3.0, "diameter on drawing = 5.0 cm", ha="center", va="top", fontsize=10)

# Scale bar (2.0 cm on the drawing, i.e. 2/5 of the diameter arrow).
ax.plot([3.4, 5.4], [-2.6, -2.6], color="black", lw=4, solid_capstyle="butt")
ax.text(4.4, -2.45, "10 µm", ha="center", va="bottom", fontsize=11, fontweight="bold")
ax.text(4.4, -2.8, "scale bar: 2.0 cm on drawing", ha="center", va="top", fontsize=8.5)

fig.tight_layout()
fig.savefig("figure.png", dpi=150)
