"""Gradio widget for the image_fidelity metric: PSNR and SSIM of a figure against a reference."""

from scigenbench.metrics.modules import load_metric


def build_demo():
    import gradio as gr

    metric = load_metric("image_fidelity")

    def score(image, reference, mode):
        if image is None or reference is None:
            return {"error": "upload both images"}
        out = metric.compute(images=[image], references=[reference], mode=mode)
        return {"psnr": out["psnr"], "ssim": out["ssim"], "mode": mode}

    return gr.Interface(
        fn=score,
        inputs=[gr.Image(type="pil", label="Generated figure"), gr.Image(type="pil", label="Reference figure"),
                gr.Radio(["default", "upstream"], value="default", label="Preprocessing")],
        outputs=gr.JSON(label="Fidelity"),
        title="SciGenBench image fidelity",
        description="PSNR/SSIM against a reference figure ('upstream' reproduces the paper's recipe).",
    )


if __name__ == "__main__":
    build_demo().launch()
