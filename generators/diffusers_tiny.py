"""Tiny, randomly initialised Qwen-Image and HunyuanImage 2.1 pipelines (the way diffusers' own tests build
them), saved as real pipeline folders. Used by the test suite and by ``benchmarks/bench_diffusers_gpu.py``;
nothing is downloaded: the tokenizers are byte-level vocabularies built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scigenbench._optional import require

_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_qwen2_tokenizer() -> Any:
    """A byte-level Qwen2 tokenizer (256 byte tokens + chat special tokens), no merges."""
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    for tok in _SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    return Qwen2Tokenizer(vocab=vocab, merges=[])


def _tiny_qwen25_vl(hidden: int, mrope: list[int]) -> Any:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": hidden, "intermediate_size": hidden, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 512,
                     "bos_token_id": 257, "eos_token_id": 256,
                     "rope_scaling": {"mrope_section": mrope, "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0},
        vision_config={"depth": 2, "hidden_size": hidden, "intermediate_size": hidden, "num_heads": 2,
                       "out_hidden_size": hidden},
        hidden_size=hidden, vocab_size=512, bos_token_id=257, eos_token_id=256,
        vision_start_token_id=300, vision_end_token_id=301, vision_token_id=302,
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def tiny_qwen_image_pipeline() -> Any:
    """A QwenImagePipeline with 2-layer, 16-dim components."""
    torch = require("torch", extra="diffusers")
    from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline,
                           QwenImageTransformer2DModel)

    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
        num_attention_heads=3, joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4))
    torch.manual_seed(0)
    vae = AutoencoderKLQwenImage(base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    torch.manual_seed(0)
    text_encoder = _tiny_qwen25_vl(16, [1, 1, 2])
    return QwenImagePipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                             text_encoder=text_encoder, tokenizer=tiny_qwen2_tokenizer())


def tiny_hunyuan_image_pipeline() -> Any:
    """A HunyuanImagePipeline (2.1) with 1-layer, 32-dim components and its two guiders."""
    torch = require("torch", extra="diffusers")
    from diffusers import (AdaptiveProjectedMixGuidance, AutoencoderKLHunyuanImage,
                           FlowMatchEulerDiscreteScheduler, HunyuanImagePipeline, HunyuanImageTransformer2DModel)
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = HunyuanImageTransformer2DModel(
        in_channels=4, out_channels=4, num_attention_heads=4, attention_head_dim=8, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=(1, 1), guidance_embeds=False,
        text_embed_dim=32, text_embed_2_dim=32, rope_axes_dim=(4, 4))
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanImage(in_channels=3, out_channels=3, latent_channels=4,
                                    block_out_channels=(32, 64, 64, 64), layers_per_block=1,
                                    scaling_factor=0.476986, spatial_compression_ratio=8, sample_size=128)
    torch.manual_seed(0)
    text_encoder = _tiny_qwen25_vl(32, [2, 2, 4])
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(T5Config(
        d_model=32, d_kv=4, d_ff=16, num_layers=2, num_heads=2, relative_attention_num_buckets=8,
        relative_attention_max_distance=32, vocab_size=256, feed_forward_proj="gated-gelu",
        dense_act_fn="gelu_new", is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False))
    return HunyuanImagePipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=text_encoder, tokenizer=tiny_qwen2_tokenizer(),
        text_encoder_2=text_encoder_2, tokenizer_2=ByT5Tokenizer(),
        guider=AdaptiveProjectedMixGuidance(adaptive_projected_guidance_start_step=2),
        ocr_guider=AdaptiveProjectedMixGuidance(adaptive_projected_guidance_start_step=3))


TINY_PIPELINES = {"qwen-image": tiny_qwen_image_pipeline, "hunyuan-image": tiny_hunyuan_image_pipeline}


def save_tiny_pipeline(kind: str, folder: str | Path) -> Path:
    """Build the tiny ``kind`` pipeline and ``save_pretrained`` it into ``folder`` (a real pipeline folder)."""
    folder = Path(folder)
    TINY_PIPELINES[kind]().save_pretrained(folder)
    return folder
