// The torch front: steps backed by qrun's Python worker (plugins/torch/worker, `python -m
// qrun_worker`), for the transformer-deploy way of quantizing — patch the model's own Python source
// through its AST, calibrate, fine-tune with quantization in the loop, export QDQ ONNX.
//   torch.load → torch.patch → torch.calibrate → [torch.qat] → torch.export → onnx.save, trtexec, triton, bench
import torchCalibrate from './calibrate.ts';
import torchExport from './export.ts';
import torchLoad from './load.ts';
import torchPatch from './patch.ts';
import torchQat from './qat.ts';

export { torchCalibrate, torchExport, torchLoad, torchPatch, torchQat };
export const TORCH_PLUGINS = [torchLoad, torchPatch, torchCalibrate, torchQat, torchExport];
