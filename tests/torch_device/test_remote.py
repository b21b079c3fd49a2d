"""The torch device on a device in another process (halkit.remote over gRPC): any driver works, remote too."""
import copy

import torch
from torch import nn

import halkit.torch.device as device
from halkit.remote import start_server


def test_a_transformer_layer_runs_forward_and_backward_on_a_remote_device():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, 128).eval()
    x = torch.randn(10, 6, 64)
    with start_server("native", max_memory=256 << 20) as server:
        remote = server.connect(probe_bytes=1 << 20)
        try:
            with device.use(remote):
                on_remote = copy.deepcopy(layer).to("halkit")
                y = on_remote(x.to("halkit"))
                torch.testing.assert_close(y.cpu(), layer(x), rtol=1e-5, atol=1e-6)
                y.square().mean().backward()
                layer(x).square().mean().backward()
                for p, q in zip(layer.parameters(), on_remote.parameters()):
                    torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-4, atol=1e-6)
                assert device.as_array(on_remote.linear1.weight).driver is remote
                del on_remote, y
        finally:
            remote.close()
