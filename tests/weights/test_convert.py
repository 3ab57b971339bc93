"""CTranslate2 model.bin reading, and conversion to openai-whisper checkpoints."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.weights.convert import convert, load_openai_whisper, read_ct2_model

DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2,
             np.dtype(np.int32): 3, np.dtype(np.float16): 4}


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
              version: int = 6, type_ids: dict[str, int] | None = None) -> Path:
    """A model.bin laid out as CTranslate2's ModelSpec._serialize writes it (``type_ids``
    overrides the dtype id written for a variable)."""
    aliases, type_ids = aliases or {}, type_ids or {}
    out = struct.pack("<I", version) + _string("WhisperSpec") + struct.pack("<I", 3)
    out += struct.pack("<I", len(variables))
    for name, value in sorted(variables.items()):
        out += _string(name) + struct.pack("<B", value.ndim)
        out += b"".join(struct.pack("<I", d) for d in value.shape)
        out += struct.pack("<BI", type_ids.get(name, DTYPE_IDS[value.dtype]), value.nbytes)
        out += value.astype(value.dtype.newbyteorder("<")).tobytes()
    out += struct.pack("<I", len(aliases))
    out += b"".join(_string(a) + _string(t) for a, t in aliases.items())
    path.write_bytes(out)
    return path


SMALL = {
    "decoder/embeddings/weight": np.arange(12, dtype=np.float16).reshape(4, 3) / 8,
    "decoder/num_heads": np.array(6, dtype=np.int16),
    "decoder/pre_norm": np.array(1, dtype=np.int8),
    "encoder/conv1/bias": np.array([0.5, -1.25, 3e-8], dtype=np.float32),
    "encoder/ids": np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32),
}


@pytest.fixture
def small_bin(tmp_path) -> Path:
    return write_ct2(tmp_path / "model.bin", SMALL, {"decoder/projection/weight": "decoder/embeddings/weight"})


def test_read_returns_the_exact_arrays_and_aliases(small_bin):
    variables, aliases = read_ct2_model(small_bin)
    assert aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert list(variables) == sorted(SMALL)
    for name, expected in SMALL.items():
        got = variables[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected)
    assert variables["decoder/num_heads"].shape == ()
    assert int(variables["decoder/num_heads"]) == 6
    assert variables["decoder/embeddings/weight"].flags.writeable


@pytest.mark.parametrize("keep", [0, 3, 20, 60, -7, -1])
def test_truncated_file_raises_model_error_naming_it(small_bin, keep):
    data = small_bin.read_bytes()
    small_bin.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(ModelError, match=r"model\.bin.*truncated"):
        read_ct2_model(small_bin)


def test_unsupported_binary_version_raises_model_error_naming_the_file(tmp_path):
    path = write_ct2(tmp_path / "old.bin", SMALL, version=3)
    with pytest.raises(ModelError, match=r"old\.bin.*binary version 3"):
        read_ct2_model(path)


def test_bfloat16_and_unknown_dtypes_are_refused(tmp_path):
    path = write_ct2(tmp_path / "model.bin", SMALL, type_ids={"decoder/embeddings/weight": 5})
    with pytest.raises(ModelError, match=r"model\.bin.*decoder/embeddings/weight.*dtype id 5"):
        read_ct2_model(path)


def test_alias_to_a_missing_variable_is_refused(tmp_path):
    path = write_ct2(tmp_path / "model.bin", SMALL, {"decoder/projection/weight": "nowhere"})
    with pytest.raises(ModelError, match="nowhere"):
        read_ct2_model(path)


def test_missing_file_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="absent.bin"):
        read_ct2_model(tmp_path / "absent.bin")


# --- conversion of a small random Whisper, written the way CTranslate2's converter fuses it ---

def _ct2_variables(state: dict, dims) -> dict[str, np.ndarray]:
    """CTranslate2's WhisperSpec variables for an openai-whisper state dict (the inverse mapping)."""
    sd = {k: v.numpy() for k, v in state.items()}
    out = {"encoder/num_heads": np.array(dims.n_audio_head, np.int16),
           "decoder/num_heads": np.array(dims.n_text_head, np.int16),
           "decoder/alignment_heads": np.array(1, np.int16),  # translation setting, not Whisper's
           "encoder/position_encodings/encodings": sd["encoder.positional_embedding"],
           "decoder/position_encodings/encodings": sd["decoder.positional_embedding"],
           "decoder/embeddings/weight": sd["decoder.token_embedding.weight"]}

    def linear(dst, src):
        out[f"{dst}/weight"], out[f"{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def norm(dst, src):
        out[f"{dst}/gamma"], out[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(dst, src, parts):
        out[f"{dst}/weight"] = np.concatenate([sd[f"{src}.{p}.weight"] for p in parts])
        zeros = np.zeros(dims.n_text_state, np.float16)
        out[f"{dst}/bias"] = np.concatenate([sd.get(f"{src}.{p}.bias", zeros) for p in parts])

    for name in ("conv1", "conv2"):
        linear(f"encoder/{name}", f"encoder.{name}")
    norm("encoder/layer_norm", "encoder.ln_post")
    norm("decoder/layer_norm", "decoder.ln")
    for stack, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n):
            dst, src = f"{stack}/layer_{i}", f"{stack}.blocks.{i}"
            fused(f"{dst}/self_attention/linear_0", f"{src}.attn", ("query", "key", "value"))
            linear(f"{dst}/self_attention/linear_1", f"{src}.attn.out")
            norm(f"{dst}/self_attention/layer_norm", f"{src}.attn_ln")
            linear(f"{dst}/ffn/linear_0", f"{src}.mlp.0")
            linear(f"{dst}/ffn/linear_1", f"{src}.mlp.2")
            norm(f"{dst}/ffn/layer_norm", f"{src}.mlp_ln")
            if stack == "decoder":
                linear(f"{dst}/attention/linear_0", f"{src}.cross_attn.query")
                fused(f"{dst}/attention/linear_1", f"{src}.cross_attn", ("key", "value"))
                linear(f"{dst}/attention/linear_2", f"{src}.cross_attn.out")
                norm(f"{dst}/attention/layer_norm", f"{src}.cross_attn_ln")
    return out


def test_convert_round_trips_a_small_random_whisper(tmp_path):
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(n_mels=8, n_audio_ctx=6, n_audio_state=8, n_audio_head=2, n_audio_layer=2,
                           n_vocab=20, n_text_ctx=5, n_text_state=8, n_text_head=4, n_text_layer=3)
    torch.manual_seed(0)
    original = Whisper(dims).half()
    for p in original.parameters():
        torch.nn.init.normal_(p)
    state = original.state_dict()
    ct2_dir = tmp_path / "ct2"
    ct2_dir.mkdir()
    write_ct2(ct2_dir / "model.bin", _ct2_variables(state, dims),
              {"decoder/projection/weight": "decoder/embeddings/weight"})
    (ct2_dir / "config.json").write_text(json.dumps({"alignment_heads": [[1, 3], [2, 0]]}))

    out = convert(ct2_dir, tmp_path / "out" / "small.pt")

    saved = torch.load(out, weights_only=True)
    assert saved["dims"] == vars(dims)
    assert saved["model_state_dict"].keys() == state.keys()
    for name, tensor in state.items():
        assert saved["model_state_dict"][name].dtype == torch.float16, name
        assert torch.equal(saved["model_state_dict"][name], tensor), name
    whisper.load_model(str(out), device="cpu")  # strict load_state_dict: no missing or extra key
    heads = load_openai_whisper(out, "cpu").alignment_heads.to_dense()
    assert heads.nonzero().tolist() == [[1, 3], [2, 0]]
    assert list(tmp_path.joinpath("out").iterdir()) == [out]  # no temporary file left behind


def test_convert_of_something_else_names_the_missing_variable(tmp_path):
    write_ct2(tmp_path / "model.bin", SMALL)
    with pytest.raises(ModelError, match=r"not a CTranslate2 Whisper model .*encoder/conv1/weight"):
        convert(tmp_path, tmp_path / "out.pt")


def test_loading_a_checkpoint_without_alignment_heads_says_to_convert_again(tmp_path):
    import torch

    path = tmp_path / "old.pt"
    torch.save({"dims": {}, "model_state_dict": {}}, path)
    with pytest.raises(ModelError, match=r"old\.pt.*convert"):
        load_openai_whisper(path, "cpu")


# --- the real models --------------------------------------------------------------------------

def _cached_model(name: str) -> Path:
    from pipeline.weights.store import cache_dir

    path = cache_dir() / f"whisper-{name}"
    if not all((path / f).is_file() for f in ("model.bin", "config.json", "tokenizer.json")):
        pytest.skip(f"{path} is missing: run `make install` to fetch the offline models")
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Convert a cached model (once per module) and return its checkpoint path."""
    out_dir, done = tmp_path_factory.mktemp("convert"), {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = convert(_cached_model(name), out_dir / f"{name}.pt")
        return done[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_converted_models_load_with_the_official_alignment_heads(checkpoint, name):
    import torch
    import whisper

    path = checkpoint(name)
    model = whisper.load_model(str(path), device="cpu")
    assert model.is_multilingual == (name == "base")
    saved = torch.load(path, weights_only=True)["model_state_dict"]
    assert {t.dtype for t in saved.values()} == {torch.float16}
    official = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS[name])), bool)
    heads = load_openai_whisper(path, "cpu").alignment_heads.to_dense()
    assert heads.flatten().tolist() == official.tolist()


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16_000)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def both_engines(checkpoint, sample_wav) -> dict[str, tuple[str, list[float]]]:
    """tiny.en greedy on sample.wav: openai-whisper on the converted checkpoint, and faster-whisper
    on the CTranslate2 original, each as (text, word start times).

    Both get the same float32 waveform (read with ``wave``: no decoder or resampler differs) and the
    same options; the rest (suppress_tokens=-1, suppress_blank, thresholds, max_initial_timestamp,
    punctuation merging, median filter width 7) has the same defaults in both.
    """
    import whisper
    from faster_whisper import WhisperModel

    path = checkpoint("tiny.en")
    audio = _read_wav(sample_wav)
    model = load_openai_whisper(path, "cpu")
    result = whisper.transcribe(model, audio, temperature=0.0, beam_size=None, best_of=None,
                                word_timestamps=True, fp16=False, condition_on_previous_text=False,
                                verbose=None)
    del model
    openai = (result["text"], [w["start"] for s in result["segments"] for w in s["words"]])
    fw = WhisperModel(str(_cached_model("tiny.en")), device="cpu", compute_type="float32", cpu_threads=2)
    segments, _ = fw.transcribe(audio, beam_size=1, temperature=0.0, word_timestamps=True,
                                vad_filter=False, without_timestamps=False,
                                condition_on_previous_text=False)
    segments = list(segments)
    faster = ("".join(s.text for s in segments), [w.start for s in segments for w in s.words])
    return {"openai": openai, "faster": faster}


@pytest.mark.slow
def test_converted_model_transcribes_like_faster_whisper(both_engines):
    from whisper.normalizers import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    openai_text, faster_text = both_engines["openai"][0], both_engines["faster"][0]
    assert normalize(openai_text) == normalize(faster_text)
    assert "new jersey" in normalize(openai_text)


@pytest.mark.slow
def test_converted_model_times_words_like_faster_whisper(both_engines):
    # Measured on tiny.en / sample.wav: 78 words, largest start difference 0.00 s.
    (_, openai_starts), (_, faster_starts) = both_engines["openai"], both_engines["faster"]
    assert len(openai_starts) == len(faster_starts) > 50
    differences = [abs(a - b) for a, b in zip(openai_starts, faster_starts, strict=True)]
    assert max(differences) <= 0.02 + 1e-9  # 1e-9: 0.02 itself, as a float difference of two times

