"""Gradio widget for the inverse_quiz metric: one figure, one multiple-choice quiz."""

from scigenbench.metrics.modules import load_metric


def build_demo():
    import gradio as gr

    metric = load_metric("inverse_quiz")

    def score(image, question, a, b, c, d, correct, judge_spec):
        if image is None:
            return {"error": "upload a figure"}
        quiz = {"question": question, "options": {"A": a, "B": b, "C": c or None, "D": d or None},
                "correct_option": correct}
        out = metric.compute(images=[image], quizzes=[[quiz]], judge=judge_spec, return_records=True)
        answer = out["records"][0]["details"].get("quizzes", [{}])[0]
        return {"correct": answer.get("correct"), "predicted": answer.get("predicted"),
                "state": out["records"][0]["state"], "reason": out["records"][0]["reason"],
                "reply": answer.get("raw"), "judge_model": out["judge_model"], "proxy": out["proxy"]}

    return gr.Interface(
        fn=score,
        inputs=[gr.Image(type="pil", label="Generated figure"), gr.Textbox(label="Quiz question"),
                gr.Textbox(label="A"), gr.Textbox(label="B"), gr.Textbox(label="C"), gr.Textbox(label="D"),
                gr.Dropdown(["A", "B", "C", "D"], value="A", label="Correct option"),
                gr.Textbox(label="Answering backend spec ('ocr' works offline)", value="ocr")],
        outputs=gr.JSON(label="Result"),
        title="SciGenBench inverse quiz",
        description="Can the quiz be answered from the figure alone? The 'ocr' spec is an offline proxy.",
    )


if __name__ == "__main__":
    build_demo().launch()
