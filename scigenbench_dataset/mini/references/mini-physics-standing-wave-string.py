"""Reference figure: a string fixed at both ends vibrating with three loops."""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

L = 1.20          # string length, m
loops = 3         # third harmonic
amp = 0.12        # drawing amplitude (arbitrary units)

fig, ax = plt.subplots(figsize=(6, 4.5))

# The two extreme shapes of the standing wave.
x = np.linspace(0, L, 400)
y = amp * np.sin(loops * np.pi * x / L)
ax.plot(x, y, color="tab:blue", lw=2)
ax.plot(x, -y, color="tab:blue", lw=2, ls="--")
ax.plot([0, L], [0, 0], color="gray", lw=0.8)

# Fixed supports at both ends.
for x0, sign in ((0.0, -1), (L, 1)):
    ax.add_patch(Rectangle((x0 if sign > 0 else x0 - 0.04, -0.2), 0.04, 0.4,
                           fc="white", ec="black", hatch="////"))

# Nodes (N) and antinodes (A).
node_x = np.arange(loops + 1) * L / loops
anti_x = (np.arange(loops) + 0.5) * L / loops
ax.plot(node_x, np.zeros_like(node_x), "ko", ms=6, zorder=5)
for i, xn in enumerate(node_x):
    # End labels are nudged inwards so they do not sit on the supports.
    shift = 0.03 if i == 0 else (-0.03 if i == loops else 0.0)
    ax.text(xn + shift, 0.035, "N", fontsize=12, ha="center", va="bottom", fontweight="bold")
for xa in anti_x:
    ax.text(xa, amp + 0.02, "A", fontsize=12, ha="center", va="bottom",
            fontweight="bold", color="tab:red")

# Length of the string and the wave speed.
ax.annotate("", xy=(L, -0.27), xytext=(0, -0.27),
            arrowprops=dict(arrowstyle="<->", color="black", lw=1.2))
ax.text(L / 2, -0.29, "L = 1.20 m", fontsize=12, ha="center", va="top")
ax.text(L / 2, 0.27, "wave speed on the string: v = 240 m/s", fontsize=12,
        ha="center", va="bottom")
ax.text(L, -0.42, "N = node,  A = antinode", fontsize=10, ha="right", va="bottom",
        style="italic")

ax.set_xlim(-0.1, L + 0.1)
ax.set_ylim(-0.44, 0.36)
ax.axis("off")
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
