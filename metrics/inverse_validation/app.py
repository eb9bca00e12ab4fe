"""Gradio widget for the inverse_validation (R_inv) metric."""

from scigenbench.metrics.modules import load_metric


def build_demo():
    import gradio as gr

    metric = load_metric("inverse_validation")

    def score(image, question, answer, judge_spec, grader_spec):
        if image is None:
            return {"error": "upload a figure"}
        out = metric.compute(images=[image], questions=[question], answers=[answer], judge=judge_spec,
                             grader=grader_spec or None, return_records=True)
        record = out["records"][0]
        return {"state": record["state"], "score": record["score"], "reason": record["reason"],
                "details": record["details"], "reply": record["raw"]}

    return gr.Interface(
        fn=score,
        inputs=[gr.Image(type="pil", label="Generated figure"), gr.Textbox(label="Question (uses the figure)", lines=3),
                gr.Textbox(label="Gold answer"), gr.Textbox(label="Answering backend spec", value="openai:gpt-4o-mini"),
                gr.Textbox(label="Grader backend spec (optional)")],
        outputs=gr.JSON(label="Result"),
        title="SciGenBench R_inv",
        description="Is the figure enough to solve the problem? Answer from the image, graded against the gold answer.",
    )


if __name__ == "__main__":
    build_demo().launch()
