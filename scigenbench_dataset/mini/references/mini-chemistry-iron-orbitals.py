"""Reference figure: orbital box diagram of a neutral Fe atom (Z = 26)."""
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-1.6, 7.6)
ax.set_ylim(-0.6, 8.3)
ax.axis("off")

BOX_W, BOX_H = 0.75, 0.7
# (subshell, number of boxes, electrons, height on the energy axis, occupancy label)
subshells = [
    ("1s", 1, 2, 0.0, "1s²"),
    ("2s", 1, 2, 1.3, "2s²"),
    ("2p", 3, 6, 2.4, "2p⁶"),
    ("3s", 1, 2, 3.7, "3s²"),
    ("3p", 3, 6, 4.8, "3p⁶"),
    ("4s", 1, 2, 6.0, "4s²"),
    ("3d", 5, 6, 7.1, "3d⁶"),
]


def draw_electron(x, y, up):
    """Draw one electron as a vertical arrow inside a box."""
    y0, y1 = (y + 0.12, y + BOX_H - 0.12) if up else (y + BOX_H - 0.12, y + 0.12)
    ax.annotate("", xy=(x, y1), xytext=(x, y0),
                arrowprops=dict(arrowstyle="-|>", lw=1.6, color="black", mutation_scale=10))


for name, n_boxes, n_electrons, y, occupancy in subshells:
    x_start = 0.6
    ax.text(x_start - 0.25, y + BOX_H / 2, name, ha="right", va="center", fontsize=13)
    # Hund's rule: one up arrow in every box first, then pair from the left.
    ups = min(n_electrons, n_boxes)
    downs = n_electrons - ups
    for i in range(n_boxes):
        x = x_start + i * BOX_W
        ax.add_patch(Rectangle((x, y), BOX_W, BOX_H, fill=False, lw=1.5))
        if i < ups:
            draw_electron(x + (0.27 if i < downs else 0.5) * BOX_W, y, up=True)
        if i < downs:
            draw_electron(x + 0.73 * BOX_W, y, up=False)
    ax.text(x_start + n_boxes * BOX_W + 0.3, y + BOX_H / 2, occupancy,
            ha="left", va="center", fontsize=13, color="tab:blue")

# Energy axis.
ax.annotate("", xy=(-1.1, 7.9), xytext=(-1.1, -0.2),
            arrowprops=dict(arrowstyle="-|>", lw=1.5, color="gray"))
ax.text(-1.3, 3.8, "Energy", rotation=90, ha="center", va="center", fontsize=12, color="gray")

ax.set_title("Fe (Z = 26)", fontsize=15)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
