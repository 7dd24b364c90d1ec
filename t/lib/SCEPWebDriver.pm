package SCEPWebDriver;
# A tiny W3C WebDriver client for the browser tests: starts chromedriver on a
# free 127.0.0.1 port, opens one headless Chromium session with a fresh
# profile, and speaks the WebDriver JSON protocol over HTTP (LWP, JSON::PP).
# No Selenium modules.
#
#   my $wd = SCEPWebDriver->start(dir => $scratch);   # dies with the reason
#   $wd->get('http://user:pw@127.0.0.1:8640/otp-admin/');
#   my $el = $wd->find('#subject');                   # CSS; or find(xpath => '//...')
#   $wd->type($el, '/CN=x'); $wd->click($wd->find('#challenge-submit'));
#   my $secret = $wd->text($wd->find('#challenge-secret'));
#   $wd->window_size(1400, 1000); $wd->screenshot('page.png');
#   $wd->select_option('status-filter', 'ISSUED');   # <select id=...>, option text
#   $wd->download_to($dir);                          # downloads land there
#   $wd->stop;                                        # also in DESTROY
use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(mkpath);
use File::Spec::Functions qw(catfile);
use JSON::PP ();
use HTTP::Request ();
use LWP::UserAgent ();
use MIME::Base64 ();
use POSIX ();
use SCEPCommand qw(free_port spawn);

# the W3C element reference key
my $ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

sub chromedriver_bin {
    for my $b ($ENV{SCEP_TEST_CHROMEDRIVER}, '/usr/bin/chromedriver', '/usr/lib/chromium/chromedriver') {
        return $b if defined $b && -x $b;
    }
    return undef;
}

# the browser itself, not Debian's /usr/bin/chromium wrapper script
sub chromium_bin {
    for my $b ($ENV{SCEP_TEST_CHROMIUM}, '/usr/lib/chromium/chromium', '/usr/bin/chromium') {
        return $b if defined $b && -x $b;
    }
    return undef;
}

# why browser tests cannot run here, or undef
sub unavailable {
    return 'chromedriver is not installed (Debian package chromium-driver)' unless chromedriver_bin();
    return 'chromium is not installed (Debian package chromium)' unless chromium_bin();
    return undef;
}

# start(dir => scratch dir, args => [extra Chromium switches], timeout => s)
sub start {
    my ($class, %o) = @_;
    my $dir = $o{dir} or croak 'start(dir => ...) is needed';
    mkpath($dir) unless -d $dir;
    my $self = bless {
        dir => $dir,
        json => JSON::PP->new->canonical->allow_nonref,
        ua => LWP::UserAgent->new(timeout => $o{timeout} || 60, env_proxy => 0, keep_alive => 0),
        driver_log => catfile($dir, 'chromedriver.log'),
        owner => $$,
    }, $class;
    $self->{ua}->no_proxy('127.0.0.1');
    my $driver = chromedriver_bin() or croak 'chromedriver not found';
    my $browser = chromium_bin() or croak 'chromium not found';

    for my $try (1 .. 3) {
        $self->{port} = free_port();
        my $pid = spawn([$driver, "--port=$self->{port}", '--log-path=' . $self->{driver_log}],
                        stdout => catfile($dir, 'chromedriver.out'), append => 1, stderr => 'stdout');
        $self->{pid} = $pid;
        my $ready = 0;
        for (1 .. 100) {
            my $r = eval { $self->_call('GET', '/status') };
            if ($r && ref $r eq 'HASH' && $r->{ready}) { $ready = 1; last }
            last if waitpid($pid, POSIX::WNOHANG()) == $pid;
            select undef, undef, undef, 0.1;
        }
        last if $ready;
        $self->_kill_driver;
        croak "chromedriver did not start (see $dir/chromedriver.out)" if $try == 3;
    }

    # a fresh profile every time: nothing from another run or user
    my $profile = catfile($dir, 'chromium-profile');
    mkpath($profile);
    my @args = ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', '--user-data-dir=' . $profile, @{ $o{args} || [] });
    my $caps = { capabilities => { alwaysMatch => {
        browserName => 'chrome',
        pageLoadStrategy => 'normal',
        'goog:chromeOptions' => { binary => $browser, args => \@args },
    } } };
    my $v = eval { $self->_call('POST', '/session', $caps) };
    unless ($v && $v->{sessionId}) {
        my $err = $@ || 'no sessionId';
        $self->stop;
        croak "cannot open a Chromium session: $err";
    }
    $self->{session} = $v->{sessionId};
    $self->{browser_version} = ($v->{capabilities} || {})->{browserVersion};
    $self->_call('POST', $self->_s('/timeouts'), { implicit => 0, pageLoad => 30000, script => 10000 });
    return $self;
}

sub browser_version { $_[0]{browser_version} }

# one WebDriver command; returns its "value", dies with the WebDriver error
sub _call {
    my ($self, $method, $path, $body) = @_;
    my $url = "http://127.0.0.1:$self->{port}$path";
    my $req = HTTP::Request->new($method => $url);
    if (defined $body) {
        $req->header('Content-Type' => 'application/json; charset=utf-8');
        $req->content($self->{json}->encode($body));
    }
    my $res = $self->{ua}->request($req);
    my $data = eval { $self->{json}->decode($res->decoded_content) };
    if (!$data || ref $data ne 'HASH') {
        die "WebDriver $method $path: HTTP " . $res->code . ' ' . substr($res->decoded_content // '', 0, 300) . "\n";
    }
    my $v = $data->{value};
    if (!$res->is_success || (ref $v eq 'HASH' && defined $v->{error})) {
        die "WebDriver $method $path: " . (ref $v eq 'HASH' ? ($v->{error} // '') . ': ' . ($v->{message} // '')
                                                             : $res->status_line) . "\n";
    }
    return $v;
}

sub _s { my ($self, $p) = @_; croak 'no session' unless $self->{session}; "/session/$self->{session}$p" }

sub get       { my ($s, $url) = @_; $s->_call('POST', $s->_s('/url'), { url => $url }) }
sub url       { my $s = shift; $s->_call('GET', $s->_s('/url')) }
sub title     { my $s = shift; $s->_call('GET', $s->_s('/title')) }
sub source    { my $s = shift; $s->_call('GET', $s->_s('/source')) }
sub back      { my $s = shift; $s->_call('POST', $s->_s('/back'), {}) }
sub refresh   { my $s = shift; $s->_call('POST', $s->_s('/refresh'), {}) }

# find('#css') or find(xpath => '//...'): the element reference, or undef
sub _locator { @_ == 1 ? ('css selector', $_[0]) : ($_[0] eq 'css' ? 'css selector' : $_[0], $_[1]) }

sub find {
    my $self = shift;
    my ($using, $value) = _locator(@_);
    my $v = eval { $self->_call('POST', $self->_s('/element'), { using => $using, value => $value }) };
    return $v && ref $v eq 'HASH' ? $v->{$ELEMENT} : undef;
}

sub find_all {
    my $self = shift;
    my ($using, $value) = _locator(@_);
    my $v = $self->_call('POST', $self->_s('/elements'), { using => $using, value => $value });
    return map { $_->{$ELEMENT} } @{ $v || [] };
}

# the elements below an element: find_all_in($el, xpath => './td')
sub find_all_in {
    my ($self, $el, @loc) = @_;
    croak 'no element' unless $el;
    my ($using, $value) = _locator(@loc);
    my $v = $self->_call('POST', $self->_s("/element/$el/elements"), { using => $using, value => $value });
    return map { $_->{$ELEMENT} } @{ $v || [] };
}

sub click { my ($s, $el) = @_; croak 'no element' unless $el; $s->_call('POST', $s->_s("/element/$el/click"), {}) }
# click something that submits a form, then wait until the browser has left
# the old page (its <html> element goes stale) and the new one has a body:
# without this a find() may still see the old page under load
sub click_and_wait {
    my ($s, $el, $timeout) = @_;
    croak 'no element' unless $el;
    my $old = $s->find('html');
    $s->click($el);
    my $until = time + ($timeout || 20);
    while ($old && time < $until) {
        my $ok = eval { $s->_call('GET', $s->_s("/element/$old/name")); 1 };
        last if !$ok && $@ =~ /stale|no such element/i;
        select(undef, undef, undef, 0.1);
    }
    while (time < $until) {
        my $state = eval { $s->_call('POST', $s->_s('/execute/sync'),
                                     { script => 'return document.readyState', args => [] }) };
        last if defined $state && $state eq 'complete' && $s->find('body');
        select(undef, undef, undef, 0.1);
    }
    return 1;
}

sub clear { my ($s, $el) = @_; croak 'no element' unless $el; $s->_call('POST', $s->_s("/element/$el/clear"), {}) }
sub type {
    my ($s, $el, $text) = @_;
    croak 'no element' unless $el;
    $s->_call('POST', $s->_s("/element/$el/value"), { text => $text });
}
sub text { my ($s, $el) = @_; return undef unless $el; $s->_call('GET', $s->_s("/element/$el/text")) }
sub property {
    my ($s, $el, $name) = @_;
    return undef unless $el;
    $s->_call('GET', $s->_s("/element/$el/property/$name"));
}
sub selected { my ($s, $el) = @_; return undef unless $el; $s->_call('GET', $s->_s("/element/$el/selected")) }

# cookies the page can see through WebDriver (HttpOnly ones included)
sub cookies { my $s = shift; @{ $s->_call('GET', $s->_s('/cookie')) || [] } }

# the browser window's size in CSS pixels (what a screenshot shows)
sub window_size {
    my ($s, $w, $h) = @_;
    return $s->_call('POST', $s->_s('/window/rect'), { width => $w, height => $h });
}

# choose an option of a <select id="ID"> by its text, as a click does;
# the option chosen, or undef when there is no such option
sub select_option {
    my ($s, $id, $text) = @_;
    croak 'select_option: no quote in the text, please' if $text =~ /'/;
    my $opt = $s->find(xpath => "//select[\@id='$id']/option[normalize-space(.)='$text']");
    $s->click($opt) if $opt;
    return $opt;
}

# a PNG of the window (the viewport) written to FILE; returns FILE
sub screenshot {
    my ($s, $file) = @_;
    my $b64 = $s->_call('GET', $s->_s('/screenshot'));
    open my $fh, '>:raw', $file or croak "$file: $!";
    print $fh MIME::Base64::decode_base64($b64 // '');
    close $fh or croak "$file: $!";
    return $file;
}

# scroll the page so that the element (find()'s locator) is at the top of
# the window, as before a screenshot of a part further down the page
sub scroll_to {
    my ($s, @loc) = @_;
    my $el = $s->find(@loc) or return undef;
    $s->_call('POST', $s->_s('/execute/sync'), { script => 'arguments[0].scrollIntoView(true); return 1;',
                                                 args => [{ $ELEMENT => $el }] });
    return $el;
}

# let downloads go to DIR without asking (DevTools Browser.setDownloadBehavior)
sub download_to {
    my ($s, $dir) = @_;
    mkpath($dir) unless -d $dir;
    return $s->cdp('Browser.setDownloadBehavior', { behavior => 'allow', downloadPath => $dir });
}

# a Chrome DevTools command through chromedriver (goog/cdp/execute)
sub cdp {
    my ($s, $cmd, $params) = @_;
    $s->_call('POST', $s->_s('/goog/cdp/execute'), { cmd => $cmd, params => $params || {} });
}

sub _kill_driver {
    my $self = shift;
    my $pid = delete $self->{pid} or return;
    # the process group of the chromedriver we started (and its browser)
    kill 'TERM', -$pid;
    for (1 .. 50) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        select undef, undef, undef, 0.1;
    }
    if (kill 0, $pid) {
        kill 'KILL', -$pid;
        waitpid($pid, 0);
    }
}

# ends the session (Chromium exits) and chromedriver
sub stop {
    my $self = shift;
    if ($self->{session} && $self->{pid}) {
        eval { $self->_call('DELETE', "/session/$self->{session}") };
    }
    delete $self->{session};
    $self->_kill_driver;
}

sub DESTROY {
    my $self = shift;
    local ($@, $?, $!);
    # not in a forked child: the driver belongs to the process that started it
    $self->stop if $self->{pid} && $self->{owner} == $$;
}

1;
