"""Reference figure: object in front of a thin converging lens with principal rays.

Refracted rays are drawn only a little past the focal point, so the figure does
not locate the image (that is what the problem asks for).
"""
import matplotlib.pyplot as plt

f = 10.0          # focal length, cm
d_obj = 30.0      # object distance, cm
h_obj = 4.0       # object height, cm
x_stop = 12.0     # refracted rays end here (before they meet)

fig, ax = plt.subplots(figsize=(6, 4.5))

# Principal axis and lens (double-headed vertical arrow = converging lens).
ax.axhline(0, color="black", lw=1)
ax.text(21.5, 0.25, "principal axis", fontsize=9, ha="right", va="bottom", style="italic")
ax.annotate("", xy=(0, 6.0), xytext=(0, -6.0),
            arrowprops=dict(arrowstyle="<->", color="tab:blue", lw=2.5, mutation_scale=18))
ax.text(0.6, 6.0, "lens", fontsize=11, color="tab:blue", ha="left", va="center")

# Focal points on both sides.
for x, name, dx in ((-f, "F", 0.0), (f, "F′", -0.9)):
    ax.plot(x, 0, "ko", ms=5)
    ax.text(x + dx, -0.45, name, fontsize=12, ha="center", va="top")

# Object: upright arrow.
ax.annotate("", xy=(-d_obj, h_obj), xytext=(-d_obj, 0),
            arrowprops=dict(arrowstyle="-|>", color="tab:green", lw=2.5, mutation_scale=16))
ax.text(-d_obj - 0.8, h_obj / 2, "object\nh = 4.0 cm", fontsize=11, ha="right", va="center",
        color="tab:green")

# Three principal rays from the tip of the object.
ray = dict(color="tab:red", lw=1.3)
tip = (-d_obj, h_obj)
# 1) parallel to the axis, then through F'.
ax.plot([tip[0], 0], [h_obj, h_obj], **ray)
ax.plot([0, x_stop], [h_obj, h_obj - h_obj / f * x_stop], **ray)
# 2) through the optical centre, undeviated.
slope_c = -h_obj / d_obj
ax.plot([tip[0], x_stop], [h_obj, slope_c * x_stop], **ray)
# 3) through F, then parallel to the axis.
y_lens = -h_obj * f / (d_obj - f)   # where the line from the tip through F meets the lens
ax.plot([tip[0], 0], [h_obj, y_lens], **ray)
ax.plot([0, x_stop], [y_lens, y_lens], **ray)

# Distances below the axis.
def dimension(x0, x1, y, text):
    ax.annotate("", xy=(x1, y), xytext=(x0, y),
                arrowprops=dict(arrowstyle="<->", color="black", lw=1))
    ax.text((x0 + x1) / 2, y - 0.3, text, fontsize=11, ha="center", va="top")


dimension(-d_obj, 0, -4.3, "30 cm")
dimension(0, f, -3.0, "f = 10 cm")
ax.plot([-d_obj, -d_obj], [0, -4.5], color="gray", lw=0.8, ls=":")
ax.plot([f, f], [0, -3.2], color="gray", lw=0.8, ls=":")

ax.set_xlim(-38, 22)
ax.set_ylim(-6.5, 6.8)
ax.axis("off")
ax.set_title("Thin converging lens", fontsize=13)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
