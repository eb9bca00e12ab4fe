"""transformers: backend with tiny randomly initialised models built in the test (no download).

Both models go through the real path: ``AutoProcessor`` → the checkpoint's chat template → ``generate``.
The tokenizer is byte-level BPE without merges (every byte is a token), built offline with ``tokenizers``.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from tokenizers.pre_tokenizers import ByteLevel  # noqa: E402

from scigenbench.generators.backends import ConfigurationError, get_backend  # noqa: E402

TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{% if m['content'] is string %}{{ m['content'] }}"
            "{% else %}{% for p in m['content'] %}{% if p['type'] == 'text' %}{{ p['text'] }}{% else %}<image>"
            "{% endif %}{% endfor %}{% endif %}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>"
            "{% endif %}")
SPECIALS = ["<pad>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>", "<image>"]


def tiny_tokenizer():
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for ch in sorted(ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|end|>",
                                                additional_special_tokens=SPECIALS[2:])
    fast.chat_template = TEMPLATE
    return fast


def tiny_llama_config(tok):
    return transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=None)


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-text")
    tok = tiny_tokenizer()
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(tiny_llama_config(tok)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def build_tiny_llava(path):
    """A tiny random LLaVA (CLIP tower + 1-layer Llama) with its processor, saved to ``path`` (also used by the
    training-recipe tests)."""
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    tok = tiny_tokenizer()
    vision = transformers.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)
    config = transformers.LlavaConfig(vision_config=vision, text_config=tiny_llama_config(tok),
                                      image_token_index=tok.convert_tokens_to_ids("<image>"),
                                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    transformers.LlavaForConditionalGeneration(config).save_pretrained(path)
    image_processor = LlavaImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    transformers.LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=8,
                                vision_feature_select_strategy="default", chat_template=TEMPLATE,
                                image_token="<image>", num_additional_image_tokens=1).save_pretrained(path)
    return path


def reference_greedy(path, conversation, max_new_tokens):
    """What plain transformers produces for one conversation (no padding, greedy)."""
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    ids = tok.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    new = out[0, ids["input_ids"].shape[1]:].tolist()
    if tok.eos_token_id in new:
        new = new[:new.index(tok.eos_token_id)]
    return tok.decode(new, skip_special_tokens=True), ids["input_ids"].shape[1], len(new)


def test_text_model_uses_chat_template_and_generate(text_model_dir):
    conversation = [{"role": "user", "content": "Plan a figure."}]
    backend = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False)
    result = backend.chat(conversation, temperature=0, max_tokens=12)
    text, prompt_len, completion_len = reference_greedy(text_model_dir, conversation, 12)
    assert result.text == text
    # the template adds <|user|>, <|end|>, <|assistant|> around the 14 bytes of the question
    assert result.usage.prompt_tokens == prompt_len == 14 + 3
    assert result.usage.completion_tokens == completion_len
    assert result.provenance["device"] == "cpu" and result.provenance["dtype"] == "float32"


def test_text_batch_matches_single_requests(text_model_dir):
    backend = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False, batch_size=4)
    conversations = [[{"role": "user", "content": q}] for q in ("a", "a much longer question", "mid size")]
    batched = backend.chat_batch(conversations, max_tokens=8)
    single = [backend.chat(c, max_tokens=8) for c in conversations]
    assert [r.text for r in batched] == [r.text for r in single]  # left padding does not change answers
    assert [r.usage.prompt_tokens for r in batched] == [len(c[0]["content"]) + 3 for c in conversations]


def test_seeded_sampling_is_reproducible(text_model_dir):
    backend = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False)
    ask = [{"role": "user", "content": "x"}]
    first = backend.chat(ask, temperature=1.0, seed=7, max_tokens=10).text
    assert backend.chat(ask, temperature=1.0, seed=7, max_tokens=10).text == first


def test_vision_language_model_gets_the_encoded_image(vlm_dir):
    backend = get_backend(f"transformers:{vlm_dir}", device="cpu", cache=False)
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    ask = [{"role": "user", "content": [{"type": "text", "text": "what?"}, {"type": "image", "image": image}]}]
    result = backend.chat(ask, max_tokens=6)
    # "<|user|>what?<image><|end|><|assistant|>": 3 + 5 + 16 image tokens (the processor expanded <image> into
    # 4x4 patch features, which generate() fills from pixel_values; without them Llava raises)
    assert result.usage.prompt_tokens == 3 + 5 + 16
    assert result.provenance["images"][0]["width"] == 40 and backend.describe()["vision"] is True
    assert 0 < result.usage.completion_tokens <= 6 and isinstance(result.text, str)


def test_vision_batch_with_images(vlm_dir):
    backend = get_backend(f"transformers:{vlm_dir}", device="cpu", cache=False)
    asks = [[{"role": "user", "content": [{"type": "text", "text": t}, {"type": "image", "image": Image.new(
        "RGB", size, color)}]}] for t, size, color in (("a", (40, 20), "red"), ("longer", (20, 40), "blue"))]
    batched = backend.chat_batch(asks, max_tokens=5)
    single = [backend.chat(a, max_tokens=5) for a in asks]
    assert [r.text for r in batched] == [r.text for r in single]


def test_text_model_refuses_images_and_unknown_params(text_model_dir):
    backend = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False)
    with pytest.raises(ConfigurationError, match="cannot take images"):
        backend.chat([{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (4, 4))}]}])
    with pytest.raises(ConfigurationError, match="response_format"):
        backend.chat([{"role": "user", "content": "x"}], response_format={"type": "json_object"})


def test_cache_serves_local_models_too(text_model_dir, tmp_path):
    ask = [{"role": "user", "content": "cached?"}]
    first = get_backend(f"transformers:{text_model_dir}", device="cpu", cache_dir=tmp_path).chat(ask, max_tokens=4)
    again = get_backend(f"transformers:{text_model_dir}", device="cpu", cache_dir=tmp_path).chat(ask, max_tokens=4)
    assert again.cached and again.text == first.text


def test_concurrent_chat_calls_are_batched_with_the_same_answers(text_model_dir):
    from concurrent.futures import ThreadPoolExecutor

    backend = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False, concurrency=6, batch_size=6)
    asks = [[{"role": "user", "content": f"question number {i}" + "!" * i}] for i in range(12)]
    expected = [backend.chat(a, max_tokens=6).text for a in asks]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda a: backend.chat(a, max_tokens=6), asks))
    assert [r.text for r in results] == expected
    assert max(r.provenance["batch_size"] for r in results) > 1


def test_generation_cut_by_the_timeout_is_an_error_not_a_short_answer(text_model_dir):
    from scigenbench.generators.backends import RequestTimeoutError

    backend = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False, max_retries=0,
                          timeout=0.001)
    conversation = [{"role": "user", "content": "Plan a figure."}]
    full = get_backend(f"transformers:{text_model_dir}", device="cpu", cache=False).chat(conversation,
                                                                                         max_tokens=300)
    assert full.usage.completion_tokens > 20  # greedy runs long enough that 1 ms cannot finish it
    with pytest.raises(RequestTimeoutError, match="timeout"):
        backend.chat(conversation, max_tokens=300)
