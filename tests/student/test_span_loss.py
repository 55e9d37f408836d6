"""The span student's loss: BCE and focal values and gradients against torch's autograd."""

import pickle

import numpy
import pytest
import torch
from spacy.util import registry

from spacy_uniner.pipes.span.loss import SpanLoss


def _reference(logits: numpy.ndarray, target: numpy.ndarray, gamma: float, alpha):
    """torchvision's sigmoid focal loss written out, differentiated by autograd (float64)."""
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target, dtype=torch.float64)
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    total = loss.sum()
    total.backward()
    return float(total), x.grad.numpy()


@pytest.mark.parametrize("gamma,alpha", [(0.0, None), (2.0, 0.75), (1.0, None), (0.5, 0.25)])
def test_loss_and_gradient_match_autograd(gamma, alpha):
    rng = numpy.random.default_rng(0)
    logits = rng.normal(0, 4, size=(37, 5))
    logits[0, 0], logits[1, 1] = 40.0, -40.0  # saturated scores stay finite
    target = (rng.random((37, 5)) < 0.2).astype("float64")
    value, grad = SpanLoss(gamma, alpha)(numpy, logits, target)
    expected_value, expected_grad = _reference(logits, target, gamma, alpha)
    assert value == pytest.approx(expected_value, rel=1e-9)
    assert numpy.isfinite(grad).all()
    finite = numpy.isfinite(expected_grad)  # autograd gives nan at 0 ** gamma with gamma < 1
    numpy.testing.assert_allclose(grad[finite], expected_grad[finite], rtol=1e-7, atol=1e-12)


def test_focal_loss_weighs_easy_pairs_less():
    logits = numpy.array([[-6.0, 0.0]])  # an easy negative, a hard one
    target = numpy.zeros((1, 2))
    _, bce = SpanLoss()(numpy, logits, target)
    _, focal = SpanLoss(2.0)(numpy, logits, target)
    assert focal[0, 0] / focal[0, 1] < 0.01 * bce[0, 0] / bce[0, 1]


def test_registered_loss_is_picklable_and_checked():
    loss = registry.losses.get("spacy_uniner.span_loss.v1")(gamma=2, alpha=0.75)
    assert pickle.loads(pickle.dumps(loss)) == loss
    with pytest.raises(ValueError, match="E209"):
        SpanLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="E209"):
        SpanLoss(alpha=1.5)


def test_the_pipe_takes_the_configured_loss(tmp_path):
    import spacy

    nlp = spacy.blank("en")
    cfg = {"loss": {"@losses": "spacy_uniner.span_loss.v1", "gamma": 2.0, "alpha": 0.75}}
    pipe = nlp.add_pipe("universal_ner_span", config=cfg)
    assert pipe.loss == SpanLoss(2.0, 0.75)
    assert pickle.loads(pickle.dumps(pipe)).loss == pipe.loss
    nlp.config.to_disk(tmp_path / "config.cfg")
    reloaded = spacy.util.load_model_from_config(spacy.util.load_config(tmp_path / "config.cfg"))
    assert reloaded.get_pipe("universal_ner_span").loss == pipe.loss
    assert spacy.blank("en").add_pipe("universal_ner_span").loss == SpanLoss()  # BCE by default


@pytest.mark.parametrize("gamma,alpha", [(0.0, None), (2.0, 0.75)])
def test_weight_leaves_out_unknown_pairs(gamma, alpha):
    """A pair of weight 0 adds nothing to the loss and gets no gradient; weight 1 is the unweighted loss."""
    rng = numpy.random.default_rng(1)
    logits = rng.normal(0, 3, size=(20, 4))
    target = (rng.random((20, 4)) < 0.3).astype("float64")
    weight = (rng.random((20, 4)) < 0.5).astype("float64")
    loss = SpanLoss(gamma, alpha)
    value, grad = loss(numpy, logits, target, weight)
    known = weight.astype(bool)
    expected_value, expected_grad = _reference(logits[known], target[known], gamma, alpha)
    assert value == pytest.approx(expected_value, rel=1e-9)
    assert (grad[~known] == 0).all()
    numpy.testing.assert_allclose(grad[known], expected_grad, rtol=1e-7, atol=1e-12)
    assert loss(numpy, logits, target, numpy.ones_like(weight))[0] == pytest.approx(loss(numpy, logits, target)[0])
