"""Reference figure: RNA polymerase transcribing a DNA template strand (sequence given, mRNA not)."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-0.6, 10.6)
ax.set_ylim(-2.6, 5.0)
ax.axis("off")

x = np.linspace(0.5, 9.5, 400)
# Strands run together except in the bubble (x ≈ 3.5..7), where they separate.
bubble = np.clip(1 - ((x - 5.25) / 1.9) ** 2, 0, None) ** 0.6
y_coding = 0.35 + 0.9 * bubble
y_template = -0.35 - 0.3 * bubble

ax.plot(x, y_coding, color="tab:blue", lw=3)
ax.plot(x, y_template, color="tab:red", lw=3)
# Base-pair rungs outside the bubble.
for xi in np.arange(0.8, 9.4, 0.35):
    if abs(xi - 5.25) > 1.95:
        ax.plot([xi, xi], [-0.3, 0.3], color="gray", lw=1)

# End labels: the strands are antiparallel.
ax.text(0.3, 0.35, "5′", ha="right", va="center", fontsize=12, color="tab:blue")
ax.text(9.7, 0.35, "3′", ha="left", va="center", fontsize=12, color="tab:blue")
ax.text(0.3, -0.35, "3′", ha="right", va="center", fontsize=12, color="tab:red")
ax.text(9.7, -0.35, "5′", ha="left", va="center", fontsize=12, color="tab:red")
ax.text(1.2, 0.75, "coding strand", fontsize=10, color="tab:blue")
ax.text(1.2, -1.05, "template strand", fontsize=10, color="tab:red")

# Template sequence (read 3′→5′ by the polymerase).
ax.text(5.25, -1.55, "3′-  TAC GGA TTC ACT  -5′", ha="center", va="center",
        fontsize=13, family="monospace", color="tab:red")
ax.text(5.25, -2.15, "template strand sequence", ha="center", va="center", fontsize=9, color="tab:red")

# RNA polymerase over the bubble.
ax.add_patch(Ellipse((5.4, 0.25), 3.4, 2.6, facecolor="gold", edgecolor="darkgoldenrod",
                     alpha=0.45, lw=2, zorder=3))
ax.annotate("RNA polymerase", xy=(6.6, 1.2), xytext=(7.6, 2.2), fontsize=10, color="darkgoldenrod",
            arrowprops=dict(arrowstyle="-", color="darkgoldenrod", lw=1))

# Nascent mRNA: 3′ end inside the enzyme, 5′ end leaving up and to the left.
t = np.linspace(0, 1, 100)
mx = 5.9 - 3.0 * t
my = -0.1 + 3.4 * t + 0.25 * np.sin(6 * t)
ax.plot(mx, my, color="tab:green", lw=3, zorder=2)
ax.text(mx[-1] - 0.15, my[-1] + 0.05, "5′", ha="right", va="center", fontsize=12, color="tab:green")
ax.text(mx[-1] + 0.2, my[-1] + 0.45, "mRNA", ha="left", fontsize=11, color="tab:green")

# Direction of transcription.
ax.annotate("", xy=(9.2, 3.4), xytext=(6.6, 3.4),
            arrowprops=dict(arrowstyle="-|>", lw=2, color="black"))
ax.text(7.9, 3.65, "direction of transcription", ha="center", fontsize=10)

fig.tight_layout()
fig.savefig("figure.png", dpi=150)
