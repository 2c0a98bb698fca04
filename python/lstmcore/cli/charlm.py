"""`charlm`: a character-level LSTM language model on real text that ships with every Python:
the standard library's own source files.

Text: a seeded random sample of the ``.py`` files under ``sysconfig.get_paths()['stdlib']`` (no
test suites, no site-packages), read until about `--chars` characters; characters outside printable
ASCII plus newline become ``?``.  Whole files go to training or validation (about one character
in ten to validation: files too long for what is left of either part are skipped), so validation
text is code the model has not seen.

Model: Embedding(V -> 32) -> LSTM(32 -> H) -> Dense(H -> V), next-character cross-entropy on
sequences of `--steps` characters.  Reported: validation perplexity exp(cross-entropy) beside the
unigram baseline's (character frequencies of the training text), then a sample generated from
a prompt, one character at a time with temperature `--temperature`.
"""

from __future__ import annotations

import argparse
import os
import string
import sysconfig
from typing import List, Tuple

import numpy as np

from .. import evaluate, fit
from ..layers import LSTM, Dense, Embedding, Sequential
from ..optim import Adam
from .common import (
    CliError, Stopwatch, add_training_options, apply_threads, check_writable, header, non_negative_int, positive_float,
    positive_int, save_model, say, show_progress,
)

NAME = "charlm"
HELP = "character-level LSTM language model on the standard library's .py sources; perplexity and a sample"
ALPHABET = "\n" + "".join(chr(code) for code in range(32, 127)) + "?"
EMBEDDING = 32
EXCLUDED_DIRECTORIES = {"test", "tests", "site-packages", "dist-packages", "idlelib", "__pycache__"}
VALIDATION_SHARE = 0.1
FILL = 0.9  # whole files rarely fill a part exactly: stop at nine tenths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_options(parser, epochs=4, hidden=192)
    group = parser.add_argument_group("task")
    group.add_argument("--chars", type=positive_int, default=400_000, metavar="N",
                       help="characters of source text to read (default 400000)")
    group.add_argument("--steps", type=positive_int, default=100, metavar="T",
                       help="characters per training sequence (default 100)")
    group.add_argument("--batch-size", type=positive_int, default=64, metavar="B", help="default 64")
    group.add_argument("--sample", type=non_negative_int, default=400, metavar="N",
                       help="characters to generate after training (default 400; 0: none)")
    group.add_argument("--temperature", type=positive_float, default=0.6,
                       help="sampling temperature (default 0.6; lower is more conservative)")
    group.add_argument("--prompt", default="def ", help="text the sample starts from (default 'def ')")


def stdlib_files(rng: np.random.Generator) -> List[str]:
    root = sysconfig.get_paths()["stdlib"]
    paths = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(name for name in subdirectories if name not in EXCLUDED_DIRECTORIES)
        paths.extend(os.path.join(directory, name) for name in sorted(files) if name.endswith(".py"))
    if not paths:
        raise CliError(f"no .py files found under the standard library directory {root}")
    return [paths[index] for index in rng.permutation(len(paths))]


def read_text(paths: List[str], limit: int) -> Tuple[str, str, int]:
    """(training text, validation text, files used): whole files in the order given, a tenth of `limit`
    characters for validation and the rest for training.  Each file goes to the part it fits in (the
    emptier one, in proportion, if both); one that fits in neither is skipped, and reading stops once
    both parts are nine tenths full: validation holds 9 to 11% of the text (less only if the files run
    out first, as they can at a few thousand characters, where few files are short enough)."""
    allowed = set(ALPHABET)
    parts: Tuple[List[str], List[str]] = ([], [])  # training, validation
    budgets = (limit * (1 - VALIDATION_SHARE), limit * VALIDATION_SHARE)
    sizes = [0, 0]
    for path in paths:
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read().replace("\t", "    ")
        except (OSError, UnicodeDecodeError):
            continue
        fitting = [part for part in (0, 1) if text and sizes[part] + len(text) <= budgets[part]]
        if not fitting:
            continue
        part = min(fitting, key=lambda index: sizes[index] / budgets[index])
        parts[part].append("".join(character if character in allowed else "?" for character in text))
        sizes[part] += len(text)
        if all(size >= FILL * budget for size, budget in zip(sizes, budgets)):
            break
    return "\n".join(parts[0]), "\n".join(parts[1]), len(parts[0]) + len(parts[1])


def encode(text: str) -> np.ndarray:
    index = {character: position for position, character in enumerate(ALPHABET)}
    return np.fromiter((index[character] for character in text), dtype=np.int64, count=len(text))


def sequences(ids: np.ndarray, steps: int) -> Tuple[np.ndarray, np.ndarray]:
    """Consecutive, non-overlapping (inputs, next characters) of `steps` characters each."""
    count = (len(ids) - 1) // steps
    if count < 1:
        raise CliError(f"--steps {steps} is longer than the text read; raise --chars or lower --steps")
    inputs = ids[:count * steps].reshape(count, steps)
    targets = ids[1:count * steps + 1].reshape(count, steps)
    return inputs, targets


def sample(model: Sequential, prompt: str, length: int, temperature: float, rng: np.random.Generator) -> str:
    """Feeds the prompt, then draws each next character from softmax(logits / temperature) and feeds it
    back: one T = 1 kernel call per character, the state carried between calls."""
    ids = encode("".join(character if character in ALPHABET else "?" for character in prompt) or "\n")
    produced = []
    with model.carrying_state():
        logits = model.forward(ids[None, :])[0, -1]
        for _ in range(length):
            scaled = logits.astype(np.float64) / temperature
            probability = np.exp(scaled - scaled.max())
            probability /= probability.sum()
            choice = int(rng.choice(len(ALPHABET), p=probability))
            produced.append(ALPHABET[choice])
            logits = model.forward(np.array([[choice]], dtype=np.int64))[0, -1]
    return prompt + "".join(produced)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    check_writable(args.save, "--save")
    clock = Stopwatch()
    rng = np.random.default_rng(args.seed)
    train_text, validation_text, files = read_text(stdlib_files(rng), args.chars)
    x_train, y_train = sequences(encode(train_text), args.steps)
    x_val, y_val = sequences(encode(validation_text), args.steps)
    vocabulary = len(ALPHABET)
    header(args, NAME)
    say(args, f"text: {files} .py files of the standard library ({sysconfig.get_paths()['stdlib']}), "
              f"{len(train_text):,d} training and {len(validation_text):,d} validation characters, "
              f"{vocabulary} symbols")
    model = Sequential(Embedding(vocabulary, EMBEDDING, seed=args.seed),
                       LSTM(EMBEDDING, args.hidden, seed=args.seed + 1),
                       Dense(args.hidden, vocabulary, seed=args.seed + 2))
    say(args, f"model: Embedding({vocabulary} -> {EMBEDDING}) -> LSTM({EMBEDDING} -> {args.hidden}) -> "
              f"Dense({vocabulary}); {len(x_train)} sequences of {args.steps} characters, Adam, {args.epochs} epochs")
    history = fit(model, x_train, y_train, loss="cross_entropy", optimizer=Adam(lr=3e-3), epochs=args.epochs,
                  batch_size=args.batch_size, validation_data=(x_val, y_val), clip_norm=5.0, seed=args.seed,
                  progress=show_progress(args))
    for epoch, (loss, val_loss) in enumerate(zip(history["loss"], history["val_loss"])):
        say(args, f"  epoch {epoch + 1}: training perplexity {np.exp(loss):6.2f}, validation {np.exp(val_loss):6.2f}")
    counts = np.bincount(encode(train_text), minlength=vocabulary) + 1.0  # add-one: no zero probabilities
    unigram = counts / counts.sum()
    unigram_perplexity = float(np.exp(-np.mean(np.log(unigram[y_val]))))
    perplexity = float(np.exp(evaluate(model, x_val, y_val, loss="cross_entropy")["loss"]))
    train_seconds = clock.seconds()
    print(f"charlm: validation perplexity {perplexity:.2f} per character vs unigram baseline "
          f"{unigram_perplexity:.2f} ({perplexity / unigram_perplexity:.2f}x); "
          f"{np.log2(perplexity):.2f} bits/char; wall time {train_seconds:.1f} s")
    if args.sample:
        text = sample(model, args.prompt, args.sample, args.temperature, np.random.default_rng([args.seed, 2]))
        say(args, f"sample (temperature {args.temperature}, prompt {args.prompt!r}):")
        say(args, "-" * 72)
        say(args, text)
        say(args, "-" * 72)
    save_model(model, args)
    return 0
