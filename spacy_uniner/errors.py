"""Error and warning messages with codes, in the style of ``spacy.errors``."""


class Errors:
    E001 = (
        "[E001] `labels` must not be empty: give a list of entity types "
        '(["person", "organization"]) or a mapping from spaCy label to the type '
        'text asked ({"ORG": "organization"}).'
    )
    E002 = (
        "[E002] Invalid label {label!r}: labels and entity-type texts must be "
        "non-blank strings."
    )
    E003 = "[E003] Duplicate label {label!r} in `labels`; each label may appear once."
    E004 = "[E004] Duplicate entity-type text {text!r}: labels {labels} ask the same question."
    E005 = (
        "[E005] `labels` must be a list of strings or a dict of strings, "
        "got {type_name}."
    )
    E006 = (
        "[E006] Unknown alignment mode {mode!r}; choose one of 'strict', 'contract', 'expand' "
        "(see `Doc.char_span`)."
    )
    E007 = (
        "[E007] max_input_length={max_input_length} leaves no room for the passage: the "
        "prompt around it already takes {overhead} tokens. Increase `max_input_length`."
    )
    E008 = "[E008] `{name}` must be a positive integer, got {value!r}."
    E009 = (
        "[E009] Could not load model {name!r}: {error}. Give a Hugging Face hub name "
        "(e.g. 'Universal-NER/UniNER-7B-type') or the path of a folder written by "
        "`save_pretrained`."
    )
    E010 = "[E010] Unknown torch_dtype {dtype!r}; use 'auto', 'float32', 'float16' or 'bfloat16'."
    E011 = "[E011] The backend returned {got} answers for {expected} prompts."
    E012 = "[E012] `window_overlap` ({overlap}) must be >= 0."
    E013 = (
        "[E013] The tokenizer of {name!r} needs {packages}, which is not installed. "
        "Install it with `pip install {packages}` (spacy-uniner depends on sentencepiece "
        "and protobuf: reinstall it if they went missing). Cause: {error}"
    )

    # OpenAI-compatible backend (spacy_uniner/backends/openai_compat.py) and the
    # response cache (spacy_uniner/cache.py)
    E101 = (
        "[E101] Prompt {index} of {total} failed after {attempts} attempt(s) at {base_url} "
        "(model {model!r}): {cause}. Answers received before it are kept in `cache_dir` "
        "when one is set, so a rerun resumes."
    )
    E102 = (
        "[E102] No API key: the environment variable {env!r} is not set. Set it, or give a "
        "`base_url` (for the backend also OPENAI_BASE_URL) of a server that needs no key, "
        "e.g. a local vLLM."
    )
    E103 = (
        "[E103] {path}:{line}: corrupt cache record ({error}). Only a torn final line is "
        "dropped automatically; remove line {line} or the file."
    )
    E104 = "[E104] `stop` must be a list of non-empty strings, got {value!r}."
    E105 = "[E105] `{name}` must be {condition}, got {value!r}."
    E106 = "[E106] The cache {path} already holds a record for key {key}; keys are written once."
    E150 = (
        "[E150] Could not reach the server at {base_url} ({cause}) after {attempts} "
        "attempt(s). Start it (llama.cpp: `llama-server -m MODEL.gguf --port 8000`; vLLM: "
        "`vllm serve MODEL --port 8000`) and check `base_url`: scheme, host, port and the "
        "trailing /v1."
    )
    E151 = (
        "[E151] The server at {base_url} does not serve a model named {model!r} ({cause}). "
        "It serves: {served}. Set `model` to one of them (vLLM: the name given to `vllm "
        "serve` or --served-model-name)."
    )
    E152 = (
        "[E152] Prompt {index} ({tokens} prompt tokens, max_new_tokens={max_new_tokens}) "
        "does not fit the context of the server at {base_url}: {cause}. Lower the "
        "component's `max_input_length` so long passages are split into windows, lower "
        "`max_new_tokens`, or serve a longer context (llama.cpp `-c`/`--n_ctx`, vLLM "
        "`--max-model-len`; UniNER-7B was trained with 2048)."
    )
    E153 = (
        "[E153] The tokenizer {tokenizer!r} is not the one of the model served at "
        "{base_url}: the probe {probe!r} is {local} here but {served} on the server. Set "
        "`tokenizer` to the served model's folder or hub name, or set "
        "prompt_format = \"text\" to let the server tokenize."
    )
    E154 = (
        "[E154] The server at {base_url} rejected a prompt given as token ids ({cause}). "
        "Serve with llama.cpp's `llama-server` or vLLM, which take token ids, or set "
        "prompt_format = \"text\" for servers that parse `</s>` in text as the EOS token "
        "(llama-cpp-python's server does)."
    )
    E155 = (
        "[E155] prompt_format = {value!r}: choose 'auto' (token ids when a tokenizer "
        "loads, else text), 'tokens' or 'text'."
    )
    E156 = (
        "[E156] prompt_format = \"tokens\" needs the served model's tokenizer, and none "
        "loaded from {name!r}: set `tokenizer` to the model's folder or hub name."
    )


    # Span student component (student/component.py)
    E201 = (
        "[E201] No type names for a doc: configure `labels`, pass them per call "
        '(component_cfg={{"{name}": {{"labels": [...]}}}}) or set `doc._.uniner_types`.'
    )
    E202 = "[E202] `threshold` must be a number in (0, 1), got {value!r}."
    E203 = "[E203] The model returned scores for {got} docs but {expected} were given."
    E204 = (
        "[E204] `type_thresholds` must map type names to numbers in (0, 1), got {key!r}: {value!r}. "
        "Example: {{\"person\": 0.3, \"city\": 0.5}}."
    )

    # Student training data (student/corpus.py)
    E301 = "[E301] Training data not found: {path}. Give a .spacy file or a folder of them."
    E302 = "[E302] Doc {index} of {path} has no type names in `doc._.{attr}`; write it with `to_docbin`."
    E303 = "[E303] `{name}` must be {what}, got {value!r}."
    E304 = "[E304] Type synonyms in {path} must map a type name to a list of names."

    # Span/type matcher model (student/model.py)
    E401 = "[E401] The span/type matcher is not initialized: call `nlp.initialize()` first."
    E402 = "[E402] `{name}` must be {what}, got {value!r}."
    E403 = (
        "[E403] The {n_types} type names take {prompt} of the encoder's {max_length} input "
        "tokens, leaving {left} for the text (at least {needed} are needed): pass fewer or "
        "shorter type names."
    )
    E404 = (
        "[E404] Could not load encoder {name!r}: {error}. Give a Hugging Face hub name or the "
        "path of a folder written by `save_pretrained`."
    )
    E405 = "[E405] Type names must be non-blank strings, got {value!r}."

    # Open-type training pool (distill/pool.py) and the pretrained student (student/)
    E620 = (
        "[E620] Dataset {name!r} is part of the benchmark (CrossNER, MIT or a UniNER eval "
        "file) and never enters the training pool."
    )
    E621 = "[E621] Unknown pool dataset {name!r}; the catalogue has: {known}."
    E622 = (
        "[E622] No pretrained student named {name!r}; shipped: {shipped}. Set `pretrained` "
        "to one of them, to a folder with `student.safetensors`, or to null to start from "
        "the bare encoder."
    )
    E623 = (
        "[E623] The pretrained student at {path} was saved for a different model "
        "({detail}); set `pretrained = null` or use its settings."
    )


class Warnings:
    W001 = (
        "[W001] {count} model answer(s) could not be parsed as a JSON list and gave no "
        "entities (first: {example!r}). See `{component}.stats`."
    )

    # Response cache
    W101 = (
        "[W101] {path}: dropped a torn final line ({size} bytes) left by an interrupted run."
    )

    # Span student component (student/component.py)
    W201 = (
        "[W201] Gold span {text!r} ({n} tokens) is not a candidate: it is longer than the "
        "model's `max_width`, starts or ends on white space, or is misaligned. Such spans are "
        "counted in `{name}.stats['unreachable_gold_spans']`."
    )
