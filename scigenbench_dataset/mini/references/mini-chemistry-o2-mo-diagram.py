"""Reference figure: valence MO diagram of O2 (atomic electrons shown, MOs left empty)."""
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-1.5, 10.6)
ax.set_ylim(-0.4, 10.6)
ax.axis("off")

LEVEL_W = 0.9
X_LEFT, X_MID, X_RIGHT = 1.6, 5.0, 8.4
Y_2S, Y_2P = 1.8, 6.0

# Molecular orbitals: (label, energy, number of degenerate levels); sigma2p below pi2p for O2.
mos = [("σ2s", 1.0, 1), ("σ*2s", 2.6, 1), ("σ2p", 4.4, 1),
       ("π2p", 5.3, 2), ("π*2p", 7.0, 2), ("σ*2p", 8.4, 1)]


def level_xs(x_centre, n):
    """Left x-coordinates of n degenerate levels centred on x_centre."""
    gap = 0.15
    total = n * LEVEL_W + (n - 1) * gap
    return [x_centre - total / 2 + i * (LEVEL_W + gap) for i in range(n)]


def draw_levels(x_centre, y, n):
    xs = level_xs(x_centre, n)
    for x in xs:
        ax.plot([x, x + LEVEL_W], [y, y], color="black", lw=2.2)
    return xs


def draw_electrons(xs, y, count):
    """Hund's rule filling of degenerate levels: singles first, then pairs."""
    n = len(xs)
    for k in range(count):
        i = k % n
        up = k < n
        paired = count > n and i < count - n
        dx = (0.3 if up else 0.7) * LEVEL_W if paired else 0.5 * LEVEL_W
        y0, y1 = (y - 0.32, y + 0.32) if up else (y + 0.32, y - 0.32)
        ax.annotate("", xy=(xs[i] + dx, y1), xytext=(xs[i] + dx, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=1.4, color="tab:red", mutation_scale=9))


# Atomic orbitals with the atoms' valence electrons (2s² 2p⁴ each).
for x_atom in (X_LEFT, X_RIGHT):
    xs_s = draw_levels(x_atom, Y_2S, 1)
    draw_electrons(xs_s, Y_2S, 2)
    xs_p = draw_levels(x_atom, Y_2P, 3)
    draw_electrons(xs_p, Y_2P, 4)
    side = -1 if x_atom < X_MID else 1
    label_x = x_atom + side * 1.85
    ax.text(label_x, Y_2S, "2s", ha="center", va="center", fontsize=12)
    ax.text(label_x, Y_2P, "2p", ha="center", va="center", fontsize=12)
    ax.text(x_atom, 9.6, "O", ha="center", fontsize=15, fontweight="bold")
    ax.text(x_atom, 0.0, "2s² 2p⁴", ha="center", fontsize=11, color="tab:red")

# Molecular orbitals (left empty: filling them is the task).
mo_edges = {}
for label, y, n in mos:
    xs = draw_levels(X_MID, y, n)
    mo_edges[label] = (xs[0], xs[-1] + LEVEL_W, y)
    ax.text(xs[-1] + LEVEL_W + 0.12, y, label, ha="left", va="center", fontsize=11, zorder=5,
            bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
ax.text(X_MID, 9.6, "O₂", ha="center", fontsize=15, fontweight="bold")

# Dashed correlation lines from AOs to the MOs they form.
dash = dict(color="gray", lw=0.9, ls="--")
for label, ao_y in [("σ2s", Y_2S), ("σ*2s", Y_2S), ("σ2p", Y_2P), ("π2p", Y_2P),
                    ("π*2p", Y_2P), ("σ*2p", Y_2P)]:
    left, right, y = mo_edges[label]
    n_ao = 1 if ao_y == Y_2S else 3
    ao_left = level_xs(X_LEFT, n_ao)
    ao_right = level_xs(X_RIGHT, n_ao)
    ax.plot([ao_left[-1] + LEVEL_W, left], [ao_y, y], **dash)
    ax.plot([ao_right[0], right], [ao_y, y], **dash)

# Energy axis.
ax.annotate("", xy=(-1.0, 9.2), xytext=(-1.0, 0.3),
            arrowprops=dict(arrowstyle="-|>", lw=1.5, color="gray"))
ax.text(-1.25, 4.8, "Energy", rotation=90, ha="center", va="center", fontsize=11, color="gray")

fig.tight_layout()
fig.savefig("figure.png", dpi=150)
