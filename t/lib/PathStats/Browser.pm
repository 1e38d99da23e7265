package PathStats::Browser;

# A headless Chromium for the dashboard tests (t/dashboard-*.t), driven
# through t/lib/browser.mjs (puppeteer-core from the repository's
# package-lock.json, Debian's /usr/bin/chromium).  Nothing leaves the
# machine: see browser.mjs for the flags.  Core Perl only.
#
#   use PathStats::Browser;
#   my $b = start_browser();             # the admin location of start_nginx
#   $b->goto('');                        # relative to it: the dashboard
#   $b->wait('document.body.dataset.cycles >= 1');
#   my $n = $b->js('document.querySelectorAll("#paths-body tr").length');
#   $b->shot('loaded');                  # kept with the test's files
#   my $ev = $b->events;                 # blocked requests, console errors
#
# Every command dies with Chromium's message when it fails; a command
# that takes longer than its timeout (default 30 s) dies too.

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use IO::Select;
use IPC::Open2 qw(open2);
use JSON::PP ();
use Time::HiRes qw(time);

use PathStats::Test qw(repo_dir test_dir port);

our @EXPORT = qw(start_browser browser_admin_url);

my @BROWSERS;
my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# The URL of the admin location /pathstats/ of the harness's nginx.
sub browser_admin_url {
    my ($prefix) = @_;
    return 'http://127.0.0.1:' . port('nginx') . ($prefix // '/pathstats/');
}

# Starts Chromium.  %o: admin (the admin location's URL, default
# browser_admin_url()), width, height.  Screenshots go into
# <test dir>/screens when PS_KEEP=1.
sub start_browser {
    my (%o) = @_;
    my $repo = repo_dir();
    croak 'no /usr/bin/chromium: run scripts/install-deps.sh'
        unless -x ($ENV{PS_CHROMIUM} || '/usr/bin/chromium');
    croak "no $repo/node_modules/puppeteer-core: run scripts/install-deps.sh"
        unless -d "$repo/node_modules/puppeteer-core";

    my $admin = $o{admin} // browser_admin_url();
    my $profile = test_dir() . '/chromium-profile-' . (@BROWSERS + 1);
    mkdir $profile or croak "mkdir $profile: $!";

    my ($out, $in);
    my $pid = open2($out, $in, 'node', "$repo/t/lib/browser.mjs", $admin,
                    $profile, $o{width} // 1280, $o{height} // 900);
    my $self = bless { pid => $pid, out => $out, in => $in, admin => $admin,
                       buf => '', shots => 0 }, __PACKAGE__;
    push @BROWSERS, $self;
    return $self;
}

sub cmd {
    my ($self, $cmd, %args) = @_;
    my $timeout = delete $args{cmd_timeout} // 30;
    croak 'browser has quit' unless $self->{pid};
    my $line = $JSON->encode({ cmd => $cmd, %args }) . "\n";
    syswrite($self->{in}, $line) == length($line)
        or croak "browser: write: $!";

    my $sel = IO::Select->new($self->{out});
    my $deadline = time + $timeout;
    while ($self->{buf} !~ /\n/) {
        my $left = $deadline - time;
        croak "browser: no answer to $cmd within $timeout s"
            if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($self->{out}, $self->{buf}, 65536,
                        length $self->{buf});
        croak 'browser: exited' . ($n // 0 ? '' : " ($!)") unless $n;
    }
    $self->{buf} =~ s/^([^\n]*)\n//;
    my $answer = $JSON->decode($1);
    croak "browser: $cmd: $answer->{error}" unless $answer->{ok};
    return $answer->{value};
}

# A URL relative to the admin location, or an absolute one.
sub goto {
    my ($self, $url) = @_;
    $url = $self->{admin} . $url unless $url =~ m{^https?://};
    return $self->cmd('goto', url => $url);
}

sub js { my ($self, $js) = @_; return $self->cmd('eval', js => $js) }

# Waits until the expression is truthy (default 10 s); its value.
sub wait {
    my ($self, $js, $timeout) = @_;
    $timeout //= 10;
    return $self->cmd('wait', js => $js, timeout => int($timeout * 1000),
                      cmd_timeout => $timeout + 10);
}

# The dashboard's refresh count, and a wait for the next refresh(es).
sub cycles {
    my ($self) = @_;
    return $self->js('Number(document.body.dataset.cycles || 0)');
}

sub next_cycle {
    my ($self, $timeout) = @_;
    my $n = $self->cycles;
    return $self->wait("Number(document.body.dataset.cycles || 0) > $n",
                       $timeout // 10);
}

sub click { my ($self, $s) = @_; return $self->cmd('click', selector => $s) }

sub type {
    my ($self, $s, $text) = @_;
    return $self->cmd('type', selector => $s, text => $text);
}

sub select {
    my ($self, $s, $value) = @_;
    return $self->cmd('select', selector => $s, value => $value);
}

sub key { my ($self, $k) = @_; return $self->cmd('key', key => $k) }

sub events { my ($self) = @_; return $self->cmd('events') }

sub metrics { my ($self) = @_; return $self->cmd('metrics') }

sub viewport {
    my ($self, $w, $h) = @_;
    return $self->cmd('viewport', width => $w, height => $h);
}

# A full-page PNG <test dir>/screens/NN-<name>.png under PS_KEEP=1, or
# into $file when given; returns the file (undef when not taken).
sub shot {
    my ($self, $name, $file) = @_;
    if (!defined $file) {
        return undef unless $ENV{PS_KEEP};
        my $dir = test_dir() . '/screens';
        mkdir $dir unless -d $dir;
        $file = sprintf '%s/%02d-%s.png', $dir, ++$self->{shots}, $name;
    }
    return $self->cmd('screenshot', file => $file);
}

sub quit {
    my ($self) = @_;
    return unless $self->{pid};
    eval { $self->cmd('quit', cmd_timeout => 10) };
    close $self->{in};
    close $self->{out};
    my $deadline = time + 5;
    while (waitpid($self->{pid}, 1) == 0 && time < $deadline) {   # WNOHANG
        CORE::select(undef, undef, undef, 0.05);
    }
    if (kill 0, $self->{pid}) {
        kill 'KILL', $self->{pid};
        waitpid($self->{pid}, 0);
    }
    $self->{pid} = undef;
}

END {
    local ($?, $!, $@);
    $_->quit for @BROWSERS;
}

1;
