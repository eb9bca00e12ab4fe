"""Reference figure: table of initial-rate experiments for A + B -> C (grid drawn by hand)."""
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

header = ["Experiment", "[A]₀ (mol/L)", "[B]₀ (mol/L)", "Initial rate (mol L⁻¹ s⁻¹)"]
rows = [
    ["1", "0.10", "0.10", "2.0 × 10⁻³"],
    ["2", "0.20", "0.10", "8.0 × 10⁻³"],
    ["3", "0.10", "0.20", "4.0 × 10⁻³"],
]
col_widths = [2.0, 1.9, 1.9, 3.5]
ROW_H = 1.0

fig, ax = plt.subplots(figsize=(6, 4.5))
total_w = sum(col_widths)
n_rows = len(rows) + 1
ax.set_xlim(-0.2, total_w + 0.2)
ax.set_ylim(-0.3, n_rows * ROW_H + 1.0)
ax.axis("off")

for r, values in enumerate([header] + rows):
    y = (n_rows - 1 - r) * ROW_H  # header at the top
    x = 0.0
    for c, (text, w) in enumerate(zip(values, col_widths)):
        face = "#dbe6f4" if r == 0 else "white"
        ax.add_patch(Rectangle((x, y), w, ROW_H, facecolor=face, edgecolor="black", lw=1.2))
        ax.text(x + w / 2, y + ROW_H / 2, text, ha="center", va="center",
                fontsize=9.5 if r == 0 else 13, fontweight="bold" if r == 0 else "normal")
        x += w

ax.text(total_w / 2, n_rows * ROW_H + 0.5, "Initial rates for A + B → C at 25 °C",
        ha="center", va="center", fontsize=14)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
