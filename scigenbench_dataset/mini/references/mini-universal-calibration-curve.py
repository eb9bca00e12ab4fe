"""Reference figure: Beer-Lambert calibration plot with an unknown sample's absorbance."""
import matplotlib.pyplot as plt
import numpy as np

conc = np.array([0.0, 2.0, 4.0, 6.0, 8.0])          # mg/L
absorbance = np.array([0.00, 0.10, 0.20, 0.30, 0.40])
A_UNKNOWN = 0.26

# Least-squares line through the origin (Beer-Lambert: A = k c).
slope = (conc @ absorbance) / (conc @ conc)

fig, ax = plt.subplots(figsize=(6, 4.5))
c_line = np.linspace(0, 10, 50)
ax.plot(c_line, slope * c_line, color="tab:blue", lw=1.5, label="linear fit", zorder=1)
ax.scatter(conc, absorbance, s=50, color="black", zorder=3, label="standards")
for c, a in zip(conc[1:], absorbance[1:]):
    ax.annotate(f"{a:.2f}", (c, a), textcoords="offset points", xytext=(-8, 8),
                ha="right", fontsize=10)

ax.axhline(A_UNKNOWN, color="tab:red", ls="--", lw=1.3)
ax.text(0.2, A_UNKNOWN + 0.01, "unknown sample: A = 0.26", color="tab:red", fontsize=10, va="bottom")

ax.text(9.8, 0.03, "1.0 cm cell", ha="right", fontsize=10, color="gray")
ax.set_xlim(0, 10)
ax.set_ylim(0, 0.5)
ax.set_xticks(np.arange(0, 11, 2))
ax.set_xlabel("Fe concentration (mg/L)", fontsize=12)
ax.set_ylabel("Absorbance at 510 nm", fontsize=12)
ax.set_title("Calibration of Fe(II)–phenanthroline", fontsize=12)
ax.grid(alpha=0.3)
ax.legend(loc="upper left", fontsize=10)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
