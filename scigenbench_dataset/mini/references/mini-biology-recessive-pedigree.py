"""Reference figure: three-generation pedigree of an autosomal recessive trait."""
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Polygon, Rectangle

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.set_xlim(-0.8, 10.2)
ax.set_ylim(-0.9, 7.4)
ax.set_aspect("equal")
ax.axis("off")

R = 0.4  # half-size of a symbol
Y = {"I": 6.0, "II": 3.5, "III": 1.0}


def person(x, y, sex, affected, label, mark=None):
    """Draw a pedigree symbol: square = male, circle = female, diamond = unknown sex."""
    face = "black" if affected else "white"
    if sex == "M":
        shape = Rectangle((x - R, y - R), 2 * R, 2 * R, facecolor=face, edgecolor="black", lw=1.5)
    elif sex == "F":
        shape = Circle((x, y), R, facecolor=face, edgecolor="black", lw=1.5)
    else:
        shape = Polygon([(x, y + R * 1.3), (x + R * 1.3, y), (x, y - R * 1.3), (x - R * 1.3, y)],
                        facecolor=face, edgecolor="black", lw=1.5)
    ax.add_patch(shape)
    ax.text(x, y - R - 0.15, label, ha="center", va="top", fontsize=10)
    if mark:
        ax.text(x, y, mark, ha="center", va="center", fontsize=13, fontweight="bold")


def line(xs, ys):
    ax.plot(xs, ys, color="black", lw=1.3, zorder=0)


def couple_with_children(x_father, x_mother, y, child_xs, y_child):
    """Mating line, descent line and sibship line down to the children's symbols."""
    line([x_father + R, x_mother - R], [y, y])
    mid = (x_father + x_mother) / 2
    y_sib = (y + y_child) / 2
    line([mid, mid], [y, y_sib])
    line([min(child_xs + [mid]), max(child_xs + [mid])], [y_sib, y_sib])
    for cx in child_xs:
        line([cx, cx], [y_sib, y_child + R * 1.3])


# Generation I
person(1.0, Y["I"], "M", False, "I-1")
person(3.0, Y["I"], "F", False, "I-2")
person(6.0, Y["I"], "M", True, "I-3")
person(8.0, Y["I"], "F", False, "I-4")
# Generation II
person(1.0, Y["II"], "M", True, "II-1")
person(3.5, Y["II"], "F", False, "II-2")
person(5.5, Y["II"], "M", False, "II-3")
# Generation III
person(4.5, Y["III"], "U", False, "III-1", mark="?")

couple_with_children(1.0, 3.0, Y["I"], [1.0, 3.5], Y["II"] + R - R * 1.3)
couple_with_children(6.0, 8.0, Y["I"], [5.5], Y["II"] + R - R * 1.3)
# II-2 (female, left) married to II-3 (male, right).
line([3.5 + R, 5.5 - R], [Y["II"], Y["II"]])
line([4.5, 4.5], [Y["II"], Y["III"] + R * 1.3])

for gen, y in Y.items():
    ax.text(-0.5, y, gen, ha="center", va="center", fontsize=13, fontweight="bold")

# Legend.
ax.add_patch(Rectangle((7.3, 1.6), 0.4, 0.4, facecolor="black", edgecolor="black"))
ax.text(7.9, 1.8, "affected", va="center", fontsize=10)
ax.add_patch(Rectangle((7.3, 0.9), 0.4, 0.4, facecolor="white", edgecolor="black"))
ax.text(7.9, 1.1, "unaffected", va="center", fontsize=10)

ax.set_title("Autosomal recessive trait", fontsize=13)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
