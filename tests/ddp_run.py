"""``llmkit`` with dropout off, for the exact DDP test (test_ddp.py): run as ``python ddp_run.py finetune ...`` or
``torchrun ... ddp_run.py finetune ...``. Dropout is the only randomness that differs between one process and two
(each rank draws its own masks), so without it the two loss curves must agree to float rounding."""
import sys

import llmkit.modeling as modeling

init = modeling.TextModel.__init__


def no_dropout(self, *args, **kwargs):
    init(self, *args, **kwargs)
    for m in self.modules():
        if m.__class__.__name__ == "Dropout":
            m.p = 0.0


modeling.TextModel.__init__ = no_dropout

if __name__ == "__main__":
    from llmkit.cli import main

    sys.exit(main(sys.argv[1:]))
