"""Reference figure: acid-base titration apparatus (burette over a conical flask)."""
import matplotlib.pyplot as plt
from matplotlib.patches import Polygon, Rectangle

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(0, 12)
ax.set_ylim(0, 9)
ax.set_aspect("equal")
ax.axis("off")

# Retort stand: base, rod and clamp.
ax.add_patch(Rectangle((0.3, 0.3), 4.2, 0.3, facecolor="dimgray"))
ax.add_patch(Rectangle((0.7, 0.6), 0.15, 8.0, facecolor="gray"))
ax.plot([0.85, 2.75], [7.0, 7.0], color="dimgray", lw=4)

# Burette: glass tube with liquid, graduations and a stopcock.
BX, BW, B_TOP, B_BOTTOM = 2.75, 0.4, 8.6, 3.9
ax.add_patch(Rectangle((BX, B_BOTTOM), BW, B_TOP - B_BOTTOM, facecolor="#eaf4fb",
                       edgecolor="black", lw=1.5))
ax.add_patch(Rectangle((BX, B_BOTTOM), BW, 4.1, facecolor="#b9dcf2", edgecolor="none"))
for i in range(13):
    y = B_TOP - 0.3 - i * 0.33
    ax.plot([BX, BX + (0.2 if i % 2 else 0.3)], [y, y], color="black", lw=0.8)
ax.plot([BX + 0.1, BX + BW - 0.1], [B_BOTTOM + 4.1] * 2, color="navy", lw=1.2)  # meniscus
# Stopcock and tip.
ax.add_patch(Rectangle((BX + 0.12, B_BOTTOM - 0.5), 0.16, 0.5, facecolor="#eaf4fb", edgecolor="black"))
ax.add_patch(Rectangle((BX - 0.25, B_BOTTOM - 0.32), 0.9, 0.16, facecolor="black"))
ax.add_patch(Polygon([(BX + 0.12, B_BOTTOM - 0.5), (BX + 0.28, B_BOTTOM - 0.5),
                      (BX + 0.22, B_BOTTOM - 0.95), (BX + 0.18, B_BOTTOM - 0.95)],
                     facecolor="#eaf4fb", edgecolor="black"))

# White tile and conical flask with pale pink contents.
ax.add_patch(Rectangle((1.6, 0.6), 2.7, 0.2, facecolor="white", edgecolor="black"))
flask = [(1.9, 0.8), (4.0, 0.8), (3.15, 2.3), (3.15, 2.85), (2.75, 2.85), (2.75, 2.3)]
ax.add_patch(Polygon(flask, closed=True, facecolor="#f7fbff", edgecolor="black", lw=1.5))
ax.add_patch(Polygon([(1.9, 0.8), (4.0, 0.8), (3.6, 1.5), (2.3, 1.5)],
                     facecolor="#fbe3ef", edgecolor="none"))

# Callout labels.
callouts = [
    ("burette", (BX + BW, 8.2), (5.0, 8.4)),
    ("NaOH, 0.100 mol/L", (BX + BW, 6.0), (5.0, 7.7)),
    ("stopcock", (BX + 0.6, B_BOTTOM - 0.25), (5.0, 3.9)),
    ("conical flask", (3.5, 2.0), (5.0, 2.9)),
    ("25.00 mL HCl + phenolphthalein", (3.6, 1.2), (5.0, 2.2)),
    ("white tile", (4.3, 0.7), (5.0, 1.3)),
    ("retort stand", (0.85, 5.0), (0.2, 5.0)),
]
for text, target, where in callouts:
    ha = "right" if where[0] < target[0] else "left"
    ax.annotate(text, xy=target, xytext=where, fontsize=10, ha=ha, va="center",
                arrowprops=dict(arrowstyle="-", color="gray", lw=0.8))

# Burette readings.
reading_box = dict(boxstyle="round", facecolor="#fff8dc", edgecolor="gray")
ax.text(5.0, 6.3, "initial reading: 0.50 mL", fontsize=11, va="center", ha="left", bbox=reading_box)
ax.text(5.0, 5.5, "final reading: 23.70 mL", fontsize=11, va="center", ha="left", bbox=reading_box)

fig.tight_layout()
fig.savefig("figure.png", dpi=150)
