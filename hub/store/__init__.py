"""Tables, repositories, unit of work, encryption. Nothing outside this package sees a key or a
ciphertext."""
