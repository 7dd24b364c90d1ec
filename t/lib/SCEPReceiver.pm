package SCEPReceiver;
# The webhook receiver of the tests (t/tools/webhook-receiver.py) over
# HTTPS with a throwaway certificate for 127.0.0.1, and what it logged:
# receiver_start(NAME, mode => 'allow', port => N) -> { proc, port, log,
# mode_file }; receiver_stop, set_mode, requests_of(R, PATH), header_of.
# $TLS (cert, key: what SCEPOutboundCAFile trusts), $OTHER_CA (a CA no
# Location trusts), $SECRET and $SECRET_FILE (SCEPWebhookSecretFile).
use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use SCEPTest qw(run_cmd start_cmd cmd_output cmd_alive cmd_wait poll write_file read_file
                work_dir work_file t_dir);

our @EXPORT_OK = qw(receiver_start receiver_stop set_mode requests_of header_of
                    $TLS $OTHER_CA $SECRET $SECRET_FILE have_python);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $W = work_dir();

sub have_python { return run_cmd(['python3', '--version'])->{rc} == 0 }

sub self_signed {
    my ($name, $cn) = @_;
    my %f = (cert => "$W/$name.pem", key => "$W/$name.key");
    my $r = run_cmd(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                     '-subj', "/CN=$cn", '-addext', 'subjectAltName=IP:127.0.0.1',
                     '-keyout', $f{key}, '-out', $f{cert}]);
    die "openssl req -x509: $r->{err}" if $r->{rc};
    return \%f;
}

our $TLS = self_signed('receiver', '127.0.0.1');
our $OTHER_CA = self_signed('other-ca', '127.0.0.1');
our $SECRET = 'whsec-' . unpack('H*', pack('N4', map { int rand 2**32 } 1 .. 4));
our $SECRET_FILE = write_file("$W/webhook.secret", "$SECRET\n");

my @RECEIVERS;
END { local $?; receiver_stop($_) for @RECEIVERS }

sub receiver_start {
    my ($name, %o) = @_;
    my $r = { name => $name, log => work_file("$name-log", 'jsonl'),
              mode_file => $o{mode_file} || "$W/$name.mode" };
    write_file($r->{mode_file}, ($o{mode} // 'allow') . "\n");
    $r->{proc} = start_cmd(['python3', t_dir() . '/tools/webhook-receiver.py',
                            '--cert', $TLS->{cert}, '--key', $TLS->{key},
                            '--secret-file', $SECRET_FILE, '--log', $r->{log},
                            '--mode-file', $r->{mode_file}, '--port', $o{port} || 0]);
    poll(15, sub { cmd_output($r->{proc}) =~ /^listening (\d+)/m || !cmd_alive($r->{proc}) });
    ($r->{port}) = cmd_output($r->{proc}) =~ /^listening (\d+)/m;
    die "receiver $name did not start: " . cmd_output($r->{proc}) unless $r->{port};
    push @RECEIVERS, $r;
    return $r;
}

sub receiver_stop {
    my $r = shift;
    return unless $r->{proc} && cmd_alive($r->{proc});
    kill 'TERM', $r->{proc}{pid};
    cmd_wait($r->{proc}, 5);
}

sub set_mode { my ($r, $mode) = @_; write_file($r->{mode_file}, "$mode\n") }

# every request the receiver logged: [ { path, signature_ok, body, headers, ... } ]
sub requests_of {
    my ($r, $path) = @_;
    return [] unless -e $r->{log};
    my @all = map { JSON::PP->new->decode($_) } grep { /\S/ } split /\n/, read_file($r->{log});
    return [ grep { !defined $path || $_->{path} eq $path } @all ];
}

sub header_of {
    my ($entry, $name) = @_;
    my ($k) = grep { lc $_ eq lc $name } keys %{ $entry->{headers} || {} };
    return defined $k ? $entry->{headers}{$k} : undef;
}

1;
