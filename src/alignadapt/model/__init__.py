"""The aligner: loading (`loading`), LoRA and adapters (`lora`), the one reader of model
references (`reference`), the one prompt (`prompt`), decoding logits to times (`decoding`) and
times to classes (`timing`). Imports nothing else of alignadapt."""
