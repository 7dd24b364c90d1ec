#!/usr/bin/env python3
"""Where the httpd children's CPU goes, as exclusive shares that add up to
100%: each sample of `perf script -F comm,tid,ip,sym,dso` (read on stdin, from a
`perf record --call-graph` of the children) is given to the first bucket
below that any frame of its stack matches, walking from the leaf towards
the root. RSA private-key work is the floor; the rest is what to shrink.

An RSA private-key operation is counted whole, as `openssl speed` (the
floor) times it: the exponentiation (BN_mod_exp_mont_consttime), the
blinding, and the check of the result with the public exponent that
OpenSSL makes after each one. That is every sample under RSA_sign (the
CertRep's, the certificate's and any other private-key signature) and the
bignum work under CMS_RecipientInfo_decrypt (the request's envelope).
Before the eighteenth pass only the exponentiation was counted (its share
is still shown, below the table).

usage: perf script -i perf-cpu.data -F comm,tid,ip,sym,dso | bench/perf-shares.py

With the dso field, a sample whose leaf is in a malloc library of its own
(jemalloc, tcmalloc, mimalloc: their inner functions have no symbols) counts
as malloc/free.
"""
import re
import sys

ALLOCATOR_DSO_RX = re.compile(r"lib(jemalloc|tcmalloc[a-z_]*|mimalloc)\.so")
MALLOC = "malloc/free"
# counted before the buckets (rsa_private)
RSA_PRIVATE = "RSA private-key operations (exponentiation, blinding, the result's check)"
EXPONENTIATION_RX = re.compile(r"^BN_mod_exp_mont_consttime")
BIGNUM_RX = re.compile(r"^(BN_|bn_)")
# (bucket, pattern on a frame's symbol), first match from the leaf wins
BUCKETS = [
    ("RSA/ECDSA public and EC private (verify, encrypt to the device)",
     r"^(BN_mod_exp_mont|ecp_nistz256|ossl_ec_|ECDSA_|ec_GFp|bn_mul_mont)"),
    ("fsync (the commit's durability)", r"^(do_fsync|__x64_sys_fdatasync|__x64_sys_fsync)"),
    ("SQLite (statements, pages, WAL)", r"^sqlite3"),
    ("PostgreSQL client (libpq)", r"^(PQ|pq)"),
    ("OpenSSL decoders (public keys of parsed certificates)", r"^(OSSL_DECODER|ossl_decoder)"),
    ("ASN.1 parse (d2i: request, envelope, certificates)", r"^(d2i_|ASN1_item_d2i|ASN1_item_ex_d2i)"),
    ("ASN.1 encode (i2d)", r"^(i2d_|ASN1_item_i2d|ASN1_item_ex_i2d)"),
    ("symmetric crypto and digests", r"^(EVP_(Cipher|Encrypt|Decrypt|Digest)|aesni_|sha256_|sha1_|SHA256|SHA1|ossl_sha)"),
    (MALLOC, r"^(malloc|_int_malloc|_int_free|free|cfree|malloc_consolidate|calloc|realloc|CRYPTO_malloc|CRYPTO_free|CRYPTO_zalloc)"),
    ("APR DBD and mod_dbd (connections, locks)", r"^(apr_dbd|ap_dbd|apr_reslist|apr_global_mutex|apr_proc_mutex)"),
    ("logging (error and access log)", r"^(ap_log_|log_error_core|ap_run_log_transaction|config_log_transaction)"),
    ("network and HTTP (sockets, filters, request parsing)",
     r"^(tcp_|__x64_sys_(sendmsg|sendto|recvfrom|writev|read|write|epoll_wait|epoll_ctl|accept4)|ap_core_output_filter|ap_core_input_filter|ap_read_request|ap_process_request_internal|ap_get_brigade)"),
    ("scheduler and futexes (waiting, waking)", r"^(__schedule|schedule|__x64_sys_futex|futex_|try_to_wake_up|finish_task_switch)"),
]
# the kernel's own, only when no bucket above matches anywhere in the stack
FALLBACK = ("other kernel (page cache, interrupts, syscalls of other callers)", r"^(do_syscall_64|entry_SYSCALL|asm_|irq|__irq|handle_softirqs)")
COMPILED = [(name, re.compile(pat)) for name, pat in BUCKETS]
FALLBACK_RX = re.compile(FALLBACK[1])


def samples(stream):
    """Each sample's frames from the leaf, as (symbol, dso or '')."""
    frames = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if line[0] not in " \t":
            if frames:
                yield frames
            frames = []
            continue
        parts = line.split(None, 2)
        if len(parts) >= 2:
            dso = re.search(r"\(([^()]*)\)$", parts[2]) if len(parts) > 2 else None
            frames.append((re.sub(r"\+0x[0-9a-f]+$", "", parts[1]), dso.group(1) if dso else ""))
    if frames:
        yield frames


def rsa_private(frames, in_exponentiation):
    """Is this sample part of an RSA private-key operation? (in_exponentiation:
    one of its frames is the exponentiation itself)"""
    return (in_exponentiation or "RSA_sign" in frames
            or ("CMS_RecipientInfo_decrypt" in frames and any(BIGNUM_RX.search(f) for f in frames)))


def main():
    counts = {}
    total = 0
    exponentiation = 0
    for sampled in samples(sys.stdin):
        total += 1
        frames = [sym for sym, _ in sampled]
        in_exponentiation = any(EXPONENTIATION_RX.search(f) for f in frames)
        exponentiation += in_exponentiation
        if rsa_private(frames, in_exponentiation):
            counts[RSA_PRIVATE] = counts.get(RSA_PRIVATE, 0) + 1
            continue
        if ALLOCATOR_DSO_RX.search(sampled[0][1]):
            counts[MALLOC] = counts.get(MALLOC, 0) + 1
            continue
        bucket = "other user space (mod_scep, APR, httpd, OpenSSL objects)"
        for sym in frames:
            for name, rx in COMPILED:
                if rx.search(sym):
                    bucket = name
                    break
            else:
                continue
            break
        else:
            if any(FALLBACK_RX.search(sym) for sym in frames):
                bucket = FALLBACK[0]
        counts[bucket] = counts.get(bucket, 0) + 1
    if not total:
        sys.exit("perf-shares: no samples on stdin")
    print("| where the children's CPU went (%d samples) | share |" % total)
    print("|---|---:|")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print("| %s | %.1f%% |" % (name, 100.0 * n / total))
    print()
    print("of which the exponentiation alone (BN_mod_exp_mont_consttime, the share "
          "reported before the eighteenth pass): %.1f%%" % (100.0 * exponentiation / total))


if __name__ == "__main__":
    main()
