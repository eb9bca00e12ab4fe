"""Gradio widget for the scigenbench_judge metric (evaluate's stock widget has no image input)."""

from scigenbench.metrics.modules import load_metric


def build_demo():
    import gradio as gr

    metric = load_metric("scigenbench_judge")

    def score(image, question, judge_spec):
        if image is None:
            return {"error": "upload a figure"}
        out = metric.compute(images=[image], questions=[question], judge=judge_spec, return_records=True)
        record = out["records"][0]
        return {"state": record["state"], "reason": record["reason"],
                "dimensions": record["details"].get("dimensions"), "overall": out["overall"],
                "judge_model": out["judge_model"], "raw": record["raw"]}

    return gr.Interface(
        fn=score,
        inputs=[gr.Image(type="pil", label="Generated figure"), gr.Textbox(label="Problem text", lines=4),
                gr.Textbox(label="Judge backend spec", value="openai:gpt-4o-mini")],
        outputs=gr.JSON(label="Verdict"),
        title="SciGenBench LMM-as-judge",
        description="Rates a scientific figure on the five SciGenBench dimensions (0-2). Needs a judge backend.",
    )


if __name__ == "__main__":
    build_demo().launch()
