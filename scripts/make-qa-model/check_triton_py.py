#!/usr/bin/env python3
"""Checks plugins/triton/python/question_answering.py with the real tokenizers library (GPU machine).

QaTokenizer encodes eval pairs in one padded batch, the trained model (PyTorch, float32) gives
start/end logits for it, AnswerDecoder picks the answers; they must be transformers' pipeline
answers (pipeline.json written by train_qa.py: same text and character span).
    python3 scripts/make-qa-model/check_triton_py.py MODEL_DIR PIPELINE_JSON OUT_JSON
"""
import importlib.util
import json
import sys

import numpy as np
import torch
import transformers as T


def main():
    model_dir, pipeline_json, out_json = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("qa_py", "plugins/triton/python/question_answering.py")
    qa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(qa)
    ref = json.load(open(pipeline_json))
    items = ref["items"]
    tok = qa.QaTokenizer(f"{model_dir}/tokenizer.json", ref["max_seq_len"], 0, {"input_ids": np.int64, "attention_mask": np.int64, "token_type_ids": np.int64})
    dec = qa.AnswerDecoder(f"{model_dir}/tokenizer.json", ref["max_seq_len"], ref["max_answer_len"])
    model = T.AutoModelForQuestionAnswering.from_pretrained(model_dir, dtype=torch.float32).eval()
    same, rows = 0, []
    for b in range(0, len(items), 16):
        batch = items[b:b + 16]
        qs, cs = [i["question"] for i in batch], [i["context"] for i in batch]
        arrays = tok(qs, cs)
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in arrays.items()})
        answers = dec(qs, cs, out.start_logits.numpy(), out.end_logits.numpy())
        for i, a in zip(batch, answers):
            ok = a["answer"] == i["answer"] and a["start"] == i["start"] and a["end"] == i["end"]
            same += ok
            rows.append({"id": i["id"], "pipeline": [i["answer"], i["start"], i["end"], i["score"]], "triton_py": [a["answer"], a["start"], a["end"], a["score"]], "same": ok})
    print(f"question_answering.py answers equal to the pipeline's on {same}/{len(items)} pairs", flush=True)
    json.dump({"same": same, "total": len(items), "rows": rows}, open(out_json, "w"), indent=0)


if __name__ == "__main__":
    main()
