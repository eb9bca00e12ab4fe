"""Reference figure: body-centred cubic unit cell of alpha-iron in oblique projection."""
import itertools

import matplotlib.pyplot as plt
import numpy as np

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_aspect("equal")
ax.axis("off")

DEPTH = np.array([0.45, 0.32])  # oblique projection of the depth axis


def project(x, y, z):
    """Map cube coordinates (0..1) to the page; z points into the page."""
    return np.array([x, y]) + z * DEPTH


corners = list(itertools.product((0, 1), repeat=3))
hidden_corner = (0, 0, 1)  # the back-bottom-left corner is hidden behind the cube

# Edges: join corners that differ in exactly one coordinate.
for p, q in itertools.combinations(corners, 2):
    if sum(a != b for a, b in zip(p, q)) != 1:
        continue
    style = "--" if hidden_corner in (p, q) else "-"
    (x0, y0), (x1, y1) = project(*p), project(*q)
    ax.plot([x0, x1], [y0, y1], style, color="black", lw=1.4, zorder=1)

# Body diagonal through the centre atom.
(x0, y0), (x1, y1) = project(0, 0, 0), project(1, 1, 1)
ax.plot([x0, x1], [y0, y1], ":", color="tab:red", lw=2.0, zorder=2)
mid = project(0.9, 0.9, 0.9)
ax.annotate("body diagonal", xy=mid, xytext=(mid[0] + 0.35, mid[1] - 0.2),
            fontsize=11, color="tab:red", va="center",
            arrowprops=dict(arrowstyle="-", color="tab:red", lw=0.8))

# Corner atoms (8) and the body-centre atom.
for c in corners:
    x, y = project(*c)
    ax.scatter(x, y, s=380, color="silver", edgecolor="black", zorder=3)
cx, cy = project(0.5, 0.5, 0.5)
ax.scatter(cx, cy, s=480, color="tab:orange", edgecolor="black", zorder=4)

# Edge-length dimension under the front bottom edge.
ax.annotate("", xy=(1.0, -0.17), xytext=(0.0, -0.17),
            arrowprops=dict(arrowstyle="<|-|>", lw=1.2, color="tab:blue"))
ax.text(0.5, -0.27, "a = 0.287 nm", ha="center", va="top", fontsize=13, color="tab:blue")

ax.text(1.55, 1.45, "M = 55.85 g/mol", ha="left", va="center", fontsize=11)
ax.set_title("α-Fe (BCC)", fontsize=15)
ax.set_xlim(-0.35, 2.45)
ax.set_ylim(-0.5, 1.55)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
