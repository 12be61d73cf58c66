"""A stand-in for Triton's triton_python_backend_utils, for running a Python-backend model.py
outside Triton in qrun's tests: only what model.py uses, with the same names and behaviour."""

import json

import numpy as np

_TYPES = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}


def triton_string_to_numpy(triton_type):
    return _TYPES[triton_type]


class TritonError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self._message = message

    def message(self):
        return self._message


class Tensor:
    def __init__(self, name, array):
        self._name = name
        self._array = array

    def name(self):
        return self._name

    def as_numpy(self):
        return self._array


class TritonModelException(Exception):
    pass


# Business logic scripting (BLS): a model.py that calls another model of the repository with
# InferenceRequest(model_name=..., requested_output_names=..., inputs=...).exec(). Here the call goes
# to the loopback Triton server of qrun's tests (tests/helpers/triton-server.ts) at the URL in
# QRUN_TEST_TRITON_URL, over the KServe v2 JSON protocol: the same tensors, through onnxruntime.
_WIRE = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(np.int32): "INT32", np.dtype(np.float64): "FP64"}
_FROM_WIRE = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "FP64": np.float64, "BOOL": np.bool_}
BLS_CALLS = []


class InferenceRequest:
    def __init__(self, inputs=None, model_name=None, requested_output_names=None, **_):
        self._inputs = inputs or []
        self._model_name = model_name
        self._outputs = requested_output_names or []

    def inputs(self):
        return self._inputs

    def exec(self):
        import os
        import urllib.request

        url = f"{os.environ['QRUN_TEST_TRITON_URL']}/v2/models/{self._model_name}/infer"
        body = {
            "inputs": [{"name": t.name(), "datatype": _WIRE[t.as_numpy().dtype], "shape": list(t.as_numpy().shape), "data": t.as_numpy().reshape(-1).tolist()} for t in self._inputs],
            "outputs": [{"name": n} for n in self._outputs],
        }
        BLS_CALLS.append(self._model_name)
        request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request) as r:
                answer = json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            return InferenceResponse([], TritonError(json.loads(e.read().decode("utf-8")).get("error", str(e))))
        tensors = [Tensor(o["name"], np.array(o["data"], dtype=_FROM_WIRE[o["datatype"]]).reshape(o["shape"])) for o in answer["outputs"]]
        return InferenceResponse(tensors)


class InferenceResponse:
    def __init__(self, output_tensors, error=None):
        self._outputs = output_tensors
        self._error = error

    def output_tensors(self):
        return self._outputs

    def has_error(self):
        return self._error is not None

    def error(self):
        return self._error


def get_output_tensor_by_name(response, name):
    for t in response.output_tensors():
        if t.name() == name:
            return t
    return None


def get_input_tensor_by_name(request, name):
    for t in request.inputs():
        if t.name() == name:
            return t
    return None
