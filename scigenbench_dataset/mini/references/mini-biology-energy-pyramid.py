"""Reference figure: grassland energy pyramid with transfer efficiencies between levels."""
import matplotlib.pyplot as plt
from matplotlib.patches import Polygon

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-4.6, 8.4)
ax.set_ylim(-0.3, 9.2)
ax.axis("off")

# (trophic level, organism, energy text, fill colour), bottom to top.
levels = [
    ("Producers", "grass", "50,000 kJ m⁻² yr⁻¹", "#8fce7a"),
    ("Primary consumers", "grasshoppers", "", "#d9e88a"),
    ("Secondary consumers", "frogs", "", "#f5d77a"),
    ("Tertiary consumers", "snakes", "?", "#f2a36b"),
]
efficiencies = ["10%", "15%", "20%"]

HEIGHT = 2.0
X_CENTRE = 2.6
BASE_HALF = 3.8
APEX = 10.5


def half_width(y):
    """Half-width of the pyramid at height y."""
    return BASE_HALF * (1 - y / APEX)


for i, (role, organism, energy, colour) in enumerate(levels):
    y0, y1 = i * HEIGHT, (i + 1) * HEIGHT
    w0, w1 = half_width(y0), half_width(y1)
    ax.add_patch(Polygon([(X_CENTRE - w0, y0), (X_CENTRE + w0, y0),
                          (X_CENTRE + w1, y1), (X_CENTRE - w1, y1)],
                         facecolor=colour, edgecolor="black", lw=1.5))
    inside = organism if not energy else f"{organism}\n{energy}"
    ax.text(X_CENTRE, (y0 + y1) / 2, inside, ha="center", va="center",
            fontsize=11 if energy != "?" else 12)
    # Trophic-level name to the left of the level.
    y_mid = (y0 + y1) / 2
    ax.text(X_CENTRE - half_width(y_mid) - 0.3, y_mid, f"{role}:", ha="right", va="center",
            fontsize=10, style="italic")

# Efficiency arrows on the right: from the middle of one level to the middle of the next.
x_arrow = X_CENTRE + BASE_HALF + 0.6
for i, eff in enumerate(efficiencies):
    y_from = (i + 0.5) * HEIGHT
    y_to = (i + 1.5) * HEIGHT
    ax.annotate("", xy=(x_arrow, y_to), xytext=(x_arrow, y_from),
                arrowprops=dict(arrowstyle="-|>", lw=1.8, color="tab:red"))
    ax.text(x_arrow + 0.25, (y_from + y_to) / 2, eff, ha="left", va="center", fontsize=13,
            color="tab:red", fontweight="bold")
ax.text(x_arrow + 0.4, 7.9, "energy\ntransferred", ha="center", va="bottom", fontsize=9, color="tab:red")

fig.tight_layout()
fig.savefig("figure.png", dpi=150)
