import pytest
import torch

from simnet.config import ModelConfig
from simnet.errors import SimNetError
from simnet.models import ShallowBranch, SimNetModel, build_model, create_backbone, list_backbones


@pytest.mark.parametrize("scales", [[2, 4], [], [4]])
def test_embeddings_have_the_configured_shape_and_unit_norm(scales: list[int]) -> None:
    model = build_model(
        ModelConfig(widths=[4, 8, 8], scales=scales, branch_width=4, branch_dim=6, embedding_dim=24)
    ).eval()
    out = model(torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 24)
    assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-5)
    assert len(model.branches) == len(scales)


def test_branch_outputs_are_unit_norm_and_see_a_smaller_image() -> None:
    branch = ShallowBranch(factor=4, width=4, out_dim=7).eval()
    seen = {}

    def record(module, inputs, output) -> None:
        seen["shape"] = inputs[0].shape

    branch.features[0].register_forward_hook(record)
    out = branch(torch.randn(3, 3, 32, 32))
    assert seen["shape"] == (3, 3, 8, 8)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_compact_backbone_is_registered() -> None:
    assert "compact" in list_backbones()
    net = create_backbone("compact", widths=[4, 8, 16, 32])
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, net.out_dim) == (2, 32)


def test_unknown_backbone_is_a_clear_error() -> None:
    with pytest.raises(SimNetError, match="unknown backbone"):
        create_backbone("alexnet-9000")


def test_fusion_head_gradient_is_correct() -> None:
    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        out_dim = 3

        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(12, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.flatten(1)[:, :12])

    model = SimNetModel(Tiny(), [], embedding_dim=4).double()
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,))


def test_branch_weights_scale_each_branch_in_the_fusion() -> None:
    config = ModelConfig(widths=[4, 8, 8], scales=[2, 4], branch_width=4, branch_dim=6)
    model = build_model(config).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        model.branch_scale.zero_()
        before = model(x)
        for p in model.branches.parameters():
            p.add_(1.0)  # silenced branches: their weights do not matter
        assert torch.allclose(model(x), before)
        model.branch_scale.fill_(1.0)
        assert not torch.allclose(model(x), before)
    assert model.branch_scale.requires_grad
