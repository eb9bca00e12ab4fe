"""Reference figure: simulated 60 MHz 1H NMR spectrum of an unknown C4H8O2 compound."""
import matplotlib.pyplot as plt
import numpy as np

SPECTROMETER_MHZ = 60.0
J_PPM = 7.1 / SPECTROMETER_MHZ  # coupling constant 7.1 Hz expressed in ppm
WIDTH = 0.012                   # Lorentzian half-width (ppm)

# (centre δ, relative line intensities (Pascal's triangle), protons, annotation)
signals = [
    (4.12, [1, 3, 3, 1], 2, "q, 2H"),
    (2.05, [1], 3, "s, 3H"),
    (1.26, [1, 2, 1], 3, "t, 3H"),
]

delta = np.linspace(-0.3, 5.0, 6000)


def lorentzian(x, x0):
    return WIDTH**2 / ((x - x0) ** 2 + WIDTH**2)


fig, ax = plt.subplots(figsize=(6, 4.5))
spectrum = 0.04 * lorentzian(delta, 0.0)  # TMS reference
for centre, pattern, protons, _ in signals:
    weights = np.array(pattern, float)
    weights *= protons / weights.sum()  # area proportional to the number of protons
    offsets = (np.arange(len(pattern)) - (len(pattern) - 1) / 2) * J_PPM
    for w, off in zip(weights, offsets):
        spectrum += 0.3 * w * lorentzian(delta, centre + off)

ax.plot(delta, spectrum, color="black", lw=1.0)
for centre, pattern, protons, note in signals:
    peak = spectrum[np.abs(delta - centre) < 0.25].max()
    ax.text(centre, peak + 0.06, f"{centre:.2f}\n{note}", ha="center", va="bottom", fontsize=11)
ax.text(0.0, 0.1, "TMS", ha="center", va="bottom", fontsize=10)

ax.text(0.03, 0.95, "IR: 1740 cm⁻¹ (C=O)", transform=ax.transAxes, ha="left", va="top",
        fontsize=10, bbox=dict(facecolor="white", edgecolor="gray"))
ax.set_xlim(5.0, -0.3)  # NMR convention: δ increases to the left
ax.set_ylim(-0.03, 1.45)
ax.set_yticks([])
ax.set_xlabel("δ (ppm)", fontsize=12)
ax.set_title("¹H NMR (60 MHz, CDCl₃) of C₄H₈O₂", fontsize=13)
for side in ("left", "right", "top"):
    ax.spines[side].set_visible(False)
fig.tight_layout()
fig.savefig("figure.png", dpi=150)
