"""Reading weight files and fitting state dicts: every way a file can be wrong names the problem."""

import hashlib
import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from inference.engine.classifier import ClassifierLoadError
from inference.engine.sources.checkpoints import fit_state_dict, read_state_dict, read_weights_file
from inference.engine.testing import tiny_net


@pytest.fixture
def state_dict():
    return tiny_net(seed=0).state_dict()


def _assert_same_tensors(actual, expected):
    assert set(actual) == set(expected)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)


def test_a_plain_state_dict_is_read_with_the_sha256_of_the_files_bytes(tmp_path, state_dict):
    path = tmp_path / "weights.pth"
    torch.save(state_dict, path)

    loaded, sha256 = read_state_dict(path)

    _assert_same_tensors(loaded, state_dict)
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("key", ["state_dict", "model", "state_dict_ema"])
def test_a_state_dict_nested_in_a_training_checkpoint_is_found(tmp_path, state_dict, key):
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 7, "optimizer": {"lr": 0.1}, key: state_dict}, path)

    loaded, _ = read_state_dict(path)

    _assert_same_tensors(loaded, state_dict)


def test_ema_weights_are_preferred_as_timm_prefers_them(tmp_path, state_dict):
    ema = tiny_net(seed=1).state_dict()
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": state_dict, "state_dict_ema": ema}, path)

    loaded, _ = read_state_dict(path)

    _assert_same_tensors(loaded, ema)


def test_the_data_parallel_prefix_is_removed_and_the_weights_still_load(tmp_path):
    wrapped = nn.DataParallel(tiny_net(seed=2))
    path = tmp_path / "parallel.pth"
    torch.save(wrapped.state_dict(), path)
    net = tiny_net(seed=0)

    loaded, _ = read_state_dict(path)
    fit_state_dict(net, loaded, path=path, what="tiny_net")

    assert all(not key.startswith("module.") for key in loaded)
    _assert_same_tensors(net.state_dict(), wrapped.module.state_dict())


def test_safetensors_files_are_read(tmp_path, state_dict):
    path = tmp_path / "weights.safetensors"
    save_file(state_dict, path)

    loaded, sha256 = read_state_dict(path)

    _assert_same_tensors(loaded, state_dict)
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ClassifierLoadError, match=f"{tmp_path / 'absent.pth'} does not exist"):
        read_state_dict(tmp_path / "absent.pth")


def test_a_directory_is_not_a_weights_file(tmp_path):
    with pytest.raises(ClassifierLoadError, match="is not a file"):
        read_weights_file(tmp_path)


def test_an_empty_file_is_named_empty(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")

    with pytest.raises(ClassifierLoadError, match="empty.pth is empty"):
        read_state_dict(path)


@pytest.mark.parametrize(
    "content",
    [b"<html>404 Not Found</html>", b"\x80\x02}q\x00(X\x06"],
    ids=["text", "truncated-pickle"],
)
def test_a_file_that_is_not_torch_weights_is_a_load_error(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)

    with pytest.raises(ClassifierLoadError, match="not a readable torch weights file"):
        read_state_dict(path)


def test_a_truncated_torch_file_is_a_load_error(tmp_path, state_dict):
    path = tmp_path / "weights.pth"
    torch.save(state_dict, path)
    path.write_bytes(path.read_bytes()[:2000])

    with pytest.raises(ClassifierLoadError, match="corrupt or truncated"):
        read_state_dict(path)


def test_a_truncated_safetensors_file_is_a_load_error(tmp_path, state_dict):
    path = tmp_path / "weights.safetensors"
    save_file(state_dict, path)
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(ClassifierLoadError, match="not a readable safetensors file"):
        read_state_dict(path)


def test_a_pickled_model_is_refused_with_the_fix_in_the_message(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(tiny_net(), path)

    with pytest.raises(ClassifierLoadError, match=r"pickled Python objects.*model.state_dict\(\)"):
        read_state_dict(path)


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, capsys):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "exploit.pth"
    path.write_bytes(pickle.dumps({"weight": Exploit()}, protocol=2))

    with pytest.raises(ClassifierLoadError, match="pickled Python objects"):
        read_state_dict(path)
    assert "this must never run" not in capsys.readouterr().out


def test_a_dict_without_tensors_names_its_keys(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "arch": "resnet18"}, path)

    with pytest.raises(ClassifierLoadError, match=r"keys: arch, epoch.*without a state dict"):
        read_state_dict(path)


def test_a_file_holding_a_single_tensor_is_not_a_state_dict(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)

    with pytest.raises(ClassifierLoadError, match="holds a Tensor, not a state dict"):
        read_state_dict(path)


def test_fitting_names_missing_unexpected_and_mis_shaped_keys(tmp_path, state_dict):
    broken = dict(state_dict)
    del broken["0.weight"]
    broken["extra.weight"] = torch.zeros(1)
    broken["8.weight"] = torch.zeros(5, 16)

    with pytest.raises(ClassifierLoadError) as caught:
        fit_state_dict(tiny_net(), broken, path=tmp_path / "w.pth", what="tiny_net")

    message = str(caught.value)
    assert "do not fit tiny_net" in message and "w.pth" in message
    assert "1 missing key(s): 0.weight" in message
    assert "1 unexpected key(s): extra.weight" in message
    assert "1 shape mismatch(es): 8.weight (file [5, 16], model [10, 16])" in message


def test_fitting_names_at_most_five_keys_of_a_kind(tmp_path):
    with pytest.raises(ClassifierLoadError) as caught:
        fit_state_dict(tiny_net(), {"other.weight": torch.zeros(1)}, path=tmp_path / "w.pth", what="tiny_net")

    missing = str(caught.value).split("missing key(s): ")[1].split(";")[0]
    assert str(caught.value).count("missing key(s)") == 1
    assert missing.endswith(", ...") and missing.count(",") == 5


def test_an_error_raised_by_a_modules_own_loading_code_is_reported(tmp_path):
    class Strict(nn.Linear):
        def _load_from_state_dict(self, *args, **kwargs):
            raise ValueError("version should be set to 1 or 2 instead of None")

    net = Strict(2, 2)

    with pytest.raises(ClassifierLoadError, match="ValueError: version should be set"):
        fit_state_dict(net, net.state_dict(), path=tmp_path / "w.pth", what="strict")
