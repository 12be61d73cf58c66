#!/usr/bin/env python3
"""Answers of plugins/triton/python/question_answering.py with the real tokenizers library (GPU machine).

transformers 5.17 ships no question-answering pipeline (pipeline("question-answering") is an
unknown task there), so the span choice is checked this way instead: QaTokenizer encodes 60
evaluation pairs in padded batches of 16, the trained model (PyTorch, float32, from the float16
checkpoint) gives start/end logits, AnswerDecoder picks each answer as QuestionAnsweringPipeline's
postprocess does (written from transformers 4.x, where the pipeline exists). answers.json holds the
pairs and answers: qrun's TypeScript pair encoder + span choice must give the same ones
(src/tasks/question-answering/pipeline.test.ts). Where the pipeline exists (pipeline.json written
by train_qa.py), the answers are also compared with it.
    python3 scripts/make-qa-model/check_triton_py.py MODEL_DIR EVAL_JSONL OUT_DIR
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import transformers as T

MAX_LEN = 256
MAX_ANSWER_TOKENS = 30


def main():
    model_dir, eval_jsonl, out_dir = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("qa_py", "plugins/triton/python/question_answering.py")
    qa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(qa)
    items = [json.loads(l) for l in open(eval_jsonl)][:60]
    tok = qa.QaTokenizer(f"{model_dir}/tokenizer.json", MAX_LEN, 0, {"input_ids": np.int64, "attention_mask": np.int64, "token_type_ids": np.int64})
    dec = qa.AnswerDecoder(f"{model_dir}/tokenizer.json", MAX_LEN, MAX_ANSWER_TOKENS)
    model = T.AutoModelForQuestionAnswering.from_pretrained(model_dir, dtype=torch.float32).eval()
    rows, gold = [], 0
    for b in range(0, len(items), 16):
        batch = items[b:b + 16]
        qs, cs = [i["question"] for i in batch], [i["context"] for i in batch]
        arrays = tok(qs, cs)
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in arrays.items()})
        for i, a in zip(batch, dec(qs, cs, out.start_logits.numpy(), out.end_logits.numpy())):
            assert i["context"][a["start"]:a["end"]] == a["answer"]
            gold += a["answer"] in i["answers"]["text"]
            rows.append({"id": i["id"], "question": i["question"], "context": i["context"], **a})
    print(f"question_answering.py: {len(rows)} answers, {gold} equal to the gold answer", flush=True)
    with open(os.path.join(out_dir, "answers.json"), "w") as f:
        json.dump({"max_answer_len": MAX_ANSWER_TOKENS, "max_seq_len": MAX_LEN, "batch": 16, "items": rows}, f, indent=0)
    pipeline_json = os.path.join(out_dir, "pipeline.json")
    if os.path.exists(pipeline_json):
        ref = {p["id"]: p for p in json.load(open(pipeline_json))["items"]}
        same = sum((r["answer"], r["start"], r["end"]) == (ref[r["id"]]["answer"], ref[r["id"]]["start"], ref[r["id"]]["end"]) for r in rows if r["id"] in ref)
        print(f"equal to the pipeline's answers on {same}/{len(ref)}", flush=True)


if __name__ == "__main__":
    main()
