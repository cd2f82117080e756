"""The dev stack: what runs preskool-irp on one machine for a person trying it or a test, never in
production. devserver.py starts the real Temporal dev server (SQLite in .data/); stack.py is `make
up` and `make down` (that server, the worker, the receiver and the sandbox, each its own process);
demo.py is `make demo` (a drill of a P0 end to end); drill.py is the policy a drill runs with (every
executor only echoes); processes.py stops what the stack started, by pid. Kept out of the product's
packages and its image (tests/test_rooms.py): nothing in the product imports it, and it may import
anything of the product and the sandbox."""
