"""Eval for the llama.cpp example: asks the server a fixed set of short
questions, scores each answer with ROUGE-L F1 against its reference, counts
tokens from the server's usage figures, and prints eval_local.py's summary so
autotune parses it unchanged.

Environment: PORT (the server), MAX_TOKENS (answer length limit, a tuned
generation setting; default 48). Standard library only.
"""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = int(os.environ.get("PORT", "8000"))
MAX_TOKENS = int(os.environ.get("MAX_TOKENS", "48"))
URL = "http://127.0.0.1:%d/v1/chat/completions" % PORT
SYSTEM = "Answer in one short sentence."


def words(s):
    out, w = [], []
    for ch in s.lower():
        if ch.isalnum():
            w.append(ch)
        elif w:
            out.append("".join(w))
            w = []
    if w:
        out.append("".join(w))
    return out


def rouge_l_f1(candidate, reference):
    """ROUGE-L F1 over lower-cased word tokens (longest common subsequence)."""
    c, r = words(candidate), words(reference)
    if not c or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for x in c:
        cur = [0] * (len(r) + 1)
        for j, y in enumerate(r, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(c), lcs / len(r)
    return 2 * p * rec / (p + rec)


def ask(q):
    body = json.dumps(
        {
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
            "max_tokens": MAX_TOKENS,
            "temperature": 0.0,
            "seed": 0,
        }
    ).encode()
    req = urllib.request.Request(URL, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        out = json.load(resp)
    choice = out["choices"][0]
    text = choice["message"]["content"] or ""
    usage = out.get("usage") or {}
    cut = choice.get("finish_reason") == "length"
    return text, cut, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


def main():
    items = json.load(open(os.path.join(HERE, "questions.json")))
    scores, prompt_tokens, answer_tokens, ok, truncated = [], 0, 0, 0, 0
    t0 = time.time()
    for it in items:
        try:
            text, cut, p, a = ask(it["q"])
        except Exception as e:  # a failed request scores 0 and is counted
            if len(scores) - ok < 3:
                print("error on %r: %s" % (it["q"], e), file=sys.stderr)
            scores.append(0.0)
            continue
        ok += 1
        prompt_tokens += p
        answer_tokens += a
        # An answer cut off by the token limit is a broken answer: it scores
        # 0, or ROUGE-L F1 would reward truncation (a shorter answer has a
        # higher precision against a one-sentence reference).
        scores.append(0.0 if cut else rouge_l_f1(text, it["a"]))
        truncated += cut
    total = time.time() - t0
    if ok == 0:
        print("no question was answered", file=sys.stderr)
        return 1
    acc = sum(scores) / len(scores)
    print("answers cut by MAX_TOKENS=%d: %d" % (MAX_TOKENS, truncated))
    print("===== Summary [llama-cpp] =====")
    print("Questions: %d, OK: %d, Total time: %.2fs" % (len(items), ok, total))
    print("Accuracy (RougeL-F1 mean, RAW): %.4f" % acc)
    print("Tokens (prompt/answer RAW): %d / %d" % (prompt_tokens, answer_tokens))
    print(
        "Throughput RAW: answer_tokens/s=%.2f, (prompt+answer)_tokens/s=%.2f"
        % (answer_tokens / total, (prompt_tokens + answer_tokens) / total)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
