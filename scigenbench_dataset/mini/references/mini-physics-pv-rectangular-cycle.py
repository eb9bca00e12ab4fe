"""Reference figure: rectangular cycle A → B → C → D → A on a P–V diagram."""
import matplotlib.pyplot as plt

# State points: volume in litres, pressure in kPa.
states = {"A": (1.0, 300), "B": (4.0, 300), "C": (4.0, 100), "D": (1.0, 100)}
order = ["A", "B", "C", "D", "A"]

fig, ax = plt.subplots(figsize=(6, 4.5))

# Each process: a line plus a small arrow at its midpoint showing the direction.
for start, end in zip(order[:-1], order[1:]):
    (v0, p0), (v1, p1) = states[start], states[end]
    ax.plot([v0, v1], [p0, p1], color="tab:blue", lw=2)
    vm, pm = (v0 + v1) / 2, (p0 + p1) / 2
    tip = (vm + 0.05 * (v1 - v0), pm + 0.05 * (p1 - p0))
    ax.annotate("", xy=tip, xytext=(vm, pm),
                arrowprops=dict(arrowstyle="-|>", color="tab:blue", lw=2, mutation_scale=18))

# State labels with their coordinates, kept inside the V range [1, 4] so they do not collide.
placement = {"A": (1.08, 312, "left", "bottom"), "B": (3.92, 312, "right", "bottom"),
             "C": (3.92, 88, "right", "top"), "D": (1.08, 88, "left", "top")}
for name, (v, p) in states.items():
    x, y, ha, va = placement[name]
    ax.plot(v, p, "ko", ms=6, zorder=5)
    ax.text(x, y, f"{name} ({v:.1f} L, {p} kPa)", fontsize=10, ha=ha, va=va)

# Guide lines to the axes.
for v, p in states.values():
    ax.plot([v, v], [0, p], color="gray", lw=0.8, ls=":")
    ax.plot([0, v], [p, p], color="gray", lw=0.8, ls=":")

ax.set_xlim(0, 5.2)
ax.set_ylim(0, 380)
ax.set_xticks([0, 1, 2, 3, 4, 5])
ax.set_yticks([0, 100, 200, 300])
ax.set_xlabel("V (L)", fontsize=12)
ax.set_ylabel("P (kPa)", fontsize=12)
ax.set_title("Cycle of an ideal gas: A → B → C → D → A", fontsize=12)
ax.spines[["top", "right"]].set_visible(False)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
