# Refusals (scep-wire.md §2.3, §5 cases 15, 32-39, 43): each is a signed
# CertRep FAILURE with the right failInfo, or HTTP 400 when nothing can be
# echoed; afterwards the database holds no certificate for any of them.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

my $PER_FAILURE = 12;
my $RA_SUBJECT = 'CN=mod_scep Test CA RA,O=mod_scep';
my @refused;    # [label, tid, failInfo or 'http400', message type]

# one FAILURE CertRep, checked the way clients check it
sub check_failure {
    my ($label, $req, $resp, $want_fail, %o) = @_;
    my $n = 0;
    SKIP: {
        is($resp->{status}, 200, "$label: HTTP 200 (a FAILURE is still a CertRep)")
            or diag($resp->{error} // $resp->{body});
        $n++;
        skip "$label: no CertRep", $PER_FAILURE - $n unless $resp->{status} == 200;
        is($resp->{headers}{'content-type'}, 'application/x-pki-message', "$label: application/x-pki-message");
        my $rep = parse_reply($resp, $req, decrypt => 0);
        is($rep->{verified}, 1, "$label: signed and verifiable") or diag($rep->{err});
        is($rep->{messageType}, '3', "$label: messageType 3");
        is($rep->{pkiStatus}, '2', "$label: pkiStatus 2 (FAILURE)");
        if (ref $want_fail) {
            ok((grep { ($rep->{failInfo} // '') eq $_ } @$want_fail),
               "$label: failInfo one of @$want_fail") or diag("failInfo=" . ($rep->{failInfo} // '-'));
        }
        else {
            is($rep->{failInfo}, $want_fail, "$label: failInfo $want_fail")
                or diag($rep->{failInfoText});
        }
        like($rep->{failInfoText} // '', $o{text} || qr/\S/,
             "$label: failInfoText says why" . ($o{text} ? " ($o{text})" : ''))
            and note("$label: failInfoText=$rep->{failInfoText}");
        like($rep->{failInfo} // '', qr/^[0-4]\z/, "$label: failInfo within 0..4 (sscep rejects others)");
        is($rep->{transactionID}, $req->{tid}, "$label: transactionID echoed");
        is(uc($rep->{recipientNonce} // ''), uc($req->{nonce} // ''), "$label: recipientNonce echoed");
        ok(defined $rep->{senderNonce} && length($rep->{senderNonce}) == 32
           && uc $rep->{senderNonce} ne uc $req->{nonce}, "$label: fresh senderNonce");
        is($rep->{eContentLength}, '0', "$label: empty (not absent) eContent, no envelope");
    }
    push @refused, [$label, $req->{tid}, $want_fail, $o{type} // 19];
}

sub refuse_case {
    my ($label, $build, $send, $want, %o) = @_;
    my $req = build_request(%$build);
    my $resp = send_request($req, %{ $send || {} });
    check_failure($label, $req, $resp, $want, %o);
    return wantarray ? ($req, $resp) : $req;
}

########## authorization (case 32)
refuse_case('wrong challenge', { challenge => 'not-the-secret' }, {}, 2, text => qr/challenge/i);
refuse_case('no challenge', { challenge => undef }, {}, 2, text => qr/challenge/i);
refuse_case('Location without SCEPChallengePassword', {}, { path => '/scep-nochallenge' }, 2,
            text => qr/challenge/i);

########## integrity (cases 33, 34, 36)
# scepreq's tampering keeps the CMS parseable (it flips the last byte of the
# signature, or of the eContent, after signing), so transactionID and nonce
# can be echoed: FAILURE badMessageCheck is the expected answer, not a 400.
refuse_case('tampered signature', { tamper => ['signature'] }, {}, 1);
refuse_case('tampered eContent (messageDigest mismatch)', { tamper => ['content'] }, {}, 1);
{
    my $other = new_key();
    # inside the sealed part (SCEP_wire: no oracle): one answer for all
    refuse_case('self-signed signer key differs from the CSR key', { signer_self_key => $other }, {}, 1,
                text => qr/^the message content cannot be decrypted and verified$/);
}
refuse_case('envelope not addressed to this server', { recipient => pki('other', 'all.pem') }, {},
            1, text => qr/^the message content cannot be decrypted and verified$/);
{
    my $junk = write_file(work_file('payload', 'bin'), "\x30\x03\x02\x01\x00" . ('x' x 40));
    refuse_case('envelope holds no PKCS#10', { args => ['--payload', $junk] }, {}, 1,
                text => qr/^the message content cannot be decrypted and verified$/);
}

########## profile: key below the default minimum of 2048 bits (case 35)
refuse_case('1024-bit RSA key', { key => new_key(bits => 1024) }, {}, 2, text => qr/1024|key/i);

########## message types (case 38)
refuse_case("messageType $_->[0] ($_->[1])", { type => $_->[0] }, {}, 2, type => $_->[0])
    for [18, 'UpdateReq'], [99, 'unknown'], [3, 'a CertRep sent to the server'],
        [17, 'RenewalReq signed by a self-signed certificate'];

########## algorithms without SCEPLegacyAlgorithms (cases 15, 37)
refuse_case('single DES at /scep', { cipher => 'des', digest => 'sha1' }, {}, 0, text => qr/DES/);
{
    my ($req, $resp) = refuse_case('MD5 at /scep', { digest => 'md5' }, {}, 0, text => qr/MD5/i);
    # the FAILURE itself is not signed with the digest this Location refuses
    my $rep = parse_reply($resp, $req, decrypt => 0);
    is($rep->{digest}, 'sha256', 'MD5 at /scep: the FAILURE is signed with SHA-256, not MD5');
}

# ...and the same requests where legacy algorithms are on
for my $c (['single DES', { cipher => 'des', digest => 'sha1' }], ['MD5', { digest => 'md5' }],
           ['DES + MD5', { cipher => 'des', digest => 'md5' }]) {
    my $req = build_request(%{ $c->[1] }, subject => '/CN=legacy-' . lc($c->[0] =~ s/\W+/-/gr));
    my $resp = send_request($req, path => '/scep-legacy');
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    is($rep->{pkiStatus} // '', '0', "$c->[0] at /scep-legacy: SUCCESS")
        or diag(($rep->{failInfoText} // $resp->{body}));
    is($rep->{digest} // '', $c->[1]{digest}, "$c->[0] at /scep-legacy: reply digest mirrors the request");
    ok($rep->{cert_file} && openssl_verify(pki('ca.pem'), $rep->{cert_file}),
       "$c->[0] at /scep-legacy: certificate verifies");
}

########## missing attributes: nothing to echo, HTTP 400 (case 39)
for my $omit (qw(tid nonce type)) {
    my $req = build_request(omit => [$omit]);
    my $resp = send_request($req);
    is($resp->{status}, 400, "no $omit attribute: HTTP 400");
    is($resp->{headers}{'content-type'}, 'text/plain', "no $omit attribute: text/plain");
    push @refused, ["no $omit", $req->{tid}, 'http400', 19] unless $omit eq 'tid';
}

########## the same transactionID from another key after a success
my $first;
{
    my $req = build_request(subject => '/CN=tid-owner');
    my $rep = parse_reply(send_request($req), $req);
    is($rep->{pkiStatus}, '0', 'first request of the transaction: SUCCESS');
    $first = $req;
}
refuse_case('same transactionID, different key', { tid => $first->{tid}, subject => '/CN=tid-thief' },
            {}, 2, text => qr/transactionID/i);
# ...and the owner can still resend its own request
{
    my $rep = parse_reply(send_request($first), $first);
    is($rep->{pkiStatus}, '0', 'the owner resending its request still gets SUCCESS');
}

########## what the database says afterwards
sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }
{
    my (@issued, @wrong_fail, @missing);
    for my $r (@refused) {
        my ($label, $tid, $want, $type) = @$r;
        next unless defined $tid;
        my $rows = db_rows('SELECT status, fail_info, message_type, key_fp FROM scep_transactions '
                           . 'WHERE transaction_id = ' . q_str($tid));
        if ($tid eq $first->{tid}) {
            my @iss = grep { $_->{status} eq 'ISSUED' } @$rows;
            push @issued, "$label (" . scalar(@iss) . ' ISSUED rows, want 1)' if @iss != 1;
            @$rows = grep { $_->{status} ne 'ISSUED' } @$rows;
        }
        else {
            push @issued, $label if grep { $_->{status} eq 'ISSUED' } @$rows;
        }
        if ($want eq 'http400') {
            push @wrong_fail, "$label: a 400 left " . scalar(@$rows) . ' rows' if @$rows;
            next;
        }
        if (@$rows != 1) {
            push @missing, "$label: " . scalar(@$rows) . ' rows';
            next;
        }
        my $fi = $rows->[0]{fail_info} // 'NULL';
        push @wrong_fail, "$label: fail_info $fi"
            unless ref $want ? grep({ $fi eq $_ } @$want) : $fi eq $want;
        push @wrong_fail, "$label: message_type $rows->[0]{message_type}"
            if ($rows->[0]{message_type} // '') ne $type;
    }
    ok(!@issued, 'no refused request has an ISSUED row') or diag(join "\n", @issued);
    ok(!@missing, 'every refusal left exactly one transactions row') or diag(join "\n", @missing);
    ok(!@wrong_fail, 'each REJECTED row has the failInfo and messageType that was answered')
        or diag(join "\n", @wrong_fail);

    my $orphans = db_value('SELECT count(*) FROM scep_transactions t LEFT JOIN scep_certificates c '
                           . "ON c.ca = t.ca AND c.serial = t.serial WHERE t.status = 'ISSUED' "
                           . 'AND c.serial IS NULL');
    is($orphans, 0, 'every ISSUED transaction has its scep_certificates row');
    ok(db_value("SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED'") >= 4,
       'and there are ISSUED rows to check');
    is(db_value("SELECT count(*) FROM scep_transactions WHERE status = 'REJECTED' AND fail_info IS NULL"),
       0, 'every REJECTED row has fail_info');
    is(db_value("SELECT count(*) FROM scep_transactions WHERE status = 'REJECTED' AND serial IS NOT NULL"),
       0, 'no REJECTED row names a certificate');
}

error_log_clean();
done_testing();
