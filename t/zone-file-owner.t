#!/usr/bin/perl
# Who may have made the zone file (issue 10, finding 2).  nginx used to
# follow a symbolic link at the zone's path (nginx -t as root resized a
# root-owned file) and to attach to any file with a valid header, so a
# local user who created the file first got every request path and could
# rewrite the rings.  Now nginx refuses a symbolic link, a file that is
# not regular, one owned by another user, and one that another user or
# group may write, naming the owner and mode it found; the aggregator
# refuses a symbolic link, and a file of another user in a directory
# every user may write; nginx warns about such a directory.  The squatter
# is uid 54321, which no account has; the workers run as nobody.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(mkfifo);
use PathStats::Test;

plan skip_all => 'giving files to other users needs root' unless $> == 0;

my $dir = test_dir();
my $SQUATTER = 54321;
my $nobody = getpwnam('nobody');
my $nogroup = getgrnam('nogroup');

sub conf {
    my ($zone) = @_;
    return <<"EOF";
http {
    pathstats_zone $zone size=64k snapshot=64k rings=2;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { pathstats on; return 200 "ok\\n"; }
    }
}
EOF
}

# nginx -t on a zone path: (exit code, output)
sub t_zone {
    my ($zone) = @_;
    my ($rc, $out) = nginx_t(conf($zone));
    return ($rc, $out);
}

# a directory like /dev/shm: everyone may create files, sticky
my $shm = "$dir/shm";
mkdir $shm or die "mkdir $shm: $!";
chmod 01777, $shm or die "chmod $shm: $!";


# 1. a symbolic link, made by another user in the shared directory, to a
#    file of root's

my $target = "$dir/root-file";
spew($target, "root's data\n");
my $link = "$shm/link.zone";
symlink($target, $link) or die "symlink: $!";
system('chown', '-h', "$SQUATTER:$SQUATTER", $link) == 0
    or die "chown -h $link";

my ($rc, $out) = t_zone($link);
isnt($rc, 0, 'a symbolic link at the zone path: nginx -t fails');
like($out, qr/\[emerg\].*pathstats\ zone\ file\ "\Q$link\E"\ is\ a
              \ symbolic\ link,\ which\ nginx\ does\ not\ follow/x,
     '  [emerg]: it is a symbolic link');
is(slurp($target), "root's data\n", "  root's file is untouched (size "
                                    . (-s $target) . ')');
is(sprintf('%04o', (stat $target)[2] & 07777), '0644',
   '  and keeps its mode');

my ($arc, $aout, $aerr) = run_aggregator('--zone', $link, '--stats');
is($arc, 3, 'the aggregator refuses the link too: exit 3');
like($aerr, qr/event=zone_open_failed\ zone="\Q$link\E"\ error="refusing
               \ a\ symbolic\ link/x,
     '  saying it is a symbolic link');


# 2. files squatted before nginx made the zone

my @cases = (
    [ 'an empty 0666 file of another user', $SQUATTER, $SQUATTER, 0666,
      qr/is\ owned\ by\ no\ user\ \(uid\ $SQUATTER\),\ group
         \ no\ group\ \(gid\ $SQUATTER\),\ mode\ 0666:\ it\ must
         \ be\ owned\ by\ root\ or\ nobody\ \(uid\ $nobody\)/x ],
    [ 'an empty 0600 file of another user', $SQUATTER, $SQUATTER, 0600,
      qr/is\ owned\ by\ no\ user\ \(uid\ $SQUATTER\),\ group
         \ no\ group\ \(gid\ $SQUATTER\),\ mode\ 0600:\ it\ must
         \ be\ owned\ by\ root\ or\ nobody/x ],
    [ "a 0666 file of the workers' user", $nobody, $nogroup, 0666,
      qr/is\ owned\ by\ nobody\ \(uid\ $nobody\),\ group\ nogroup
         \ \(gid\ $nogroup\),\ mode\ 0666:\ .*writable\ by\ no
         \ other\ user\ or\ group\ than\ root\ and\ nogroup/x ],
    [ "a root file that another group may write", 0, $SQUATTER, 0660,
      qr/is\ owned\ by\ root\ \(uid\ 0\),\ group\ no\ group\ \(gid
         \ $SQUATTER\),\ mode\ 0660/x ],
);
my $n = 0;
for my $c (@cases) {
    my ($what, $uid, $gid, $mode, $want) = @$c;
    my $zone = "$shm/squat" . ++$n . '.zone';
    spew($zone, '');
    chown($uid, $gid, $zone) or die "chown $zone: $!";
    chmod($mode, $zone) or die "chmod $zone: $!";
    ($rc, $out) = t_zone($zone);
    isnt($rc, 0, "$what: nginx -t fails");
    like($out, qr/\[emerg\].*pathstats zone file "\Q$zone\E" $want/,
         '  [emerg] naming the owner, group and mode found') or diag($out);
    is(-s $zone, 0, '  the file is not touched');
}

my $fifo = "$dir/fifo.zone";
mkfifo($fifo, 0600) or die "mkfifo: $!";
($rc, $out) = t_zone($fifo);
isnt($rc, 0, 'a FIFO at the zone path: nginx -t fails');
like($out, qr/\[emerg\].*"\Q$fifo\E" is not a regular file/,
     '  it is not a regular file');


# 3. what nginx accepts

my $own = "$dir/root.zone";
spew($own, '');
chmod 0640, $own;
($rc, $out) = t_zone($own);
is($rc, 0, "an operator's own empty file (root, 0640) is used")
    or diag($out);
my @ost = stat $own;
ok($ost[7] > 0 && $ost[12] * 512 >= $ost[7],
   "  and sized ($ost[7] bytes), fully allocated");

my $fresh = "$shm/fresh.zone";
($rc, $out) = t_zone($fresh);
is($rc, 0, 'a new zone in the shared directory is made') or diag($out);
like($out, qr/\[warn\].*pathstats\ zone\ file\ "\Q$fresh\E"\ is\ in
              \ "\Q$shm\E",\ which\ every\ local\ user\ may\ write
              .*\/run\/pathstats/x,
     '  with a [warn] recommending a private directory');
my @fst = stat $fresh;
is(sprintf('%04o:%d:%d', $fst[2] & 07777, $fst[4], $fst[5]),
   sprintf('0660:%d:%d', $nobody, $nogroup),
   '  mode 0660, owned by the workers');


# 4. the aggregator: whose file, in which directory

start_nginx(conf($fresh), workers => 1);
is((http_get('/a'))[0], 200, 'nginx runs on the new zone');
($arc, $aout, $aerr) = run_aggregator('--zone', $fresh, '--stats');
is($arc, 3, "the aggregator as root refuses the workers' zone in the "
   . 'shared directory: any process running as nobody could have made it');
like($aerr, qr/owned\ by\ nobody\ \(uid\ $nobody\).*\ in\ a\ directory
               \ that\ other\ users\ may\ write.*private\ directory\ such
               \ as\ \/run\/pathstats/x,
     '  and says to use a private directory');
stop_nginx();

my $copy = "$shm/copy.zone";
system('cp', '--sparse=never', $fresh, $copy) == 0 or die "cp";
chown($SQUATTER, $SQUATTER, $copy) or die "chown: $!";
chmod(0644, $copy) or die "chmod: $!";
($arc, $aout, $aerr) = run_aggregator('--zone', $copy, '--stats');
is($arc, 3, "a valid zone of another user in the shared directory: the "
   . 'aggregator refuses it (exit 3)');
like($aerr, qr/error="refusing\ a\ zone\ file\ owned\ by\ no\ user
               \ \(uid\ $SQUATTER\),\ group\ no\ group\ \(gid\ $SQUATTER\),
               \ mode\ 0644,\ in\ a\ directory\ that\ other\ users\ may
               \ write/x,
     '  naming the owner and mode');

my $private = "$dir/private";
mkdir $private, 0750 or die "mkdir: $!";
system('cp', '--sparse=never', '-p', $copy, "$private/zone") == 0
    or die "cp";
chown($SQUATTER, $SQUATTER, "$private/zone") or die "chown: $!";
my $s = eval { zone_stats("$private/zone") };
is($s && $s->{totals}{seen}, 1, 'the same file in a private directory '
   . '(root, 0750) opens');

chmod(0664, "$private/zone") or die "chmod: $!";
chown(0, $SQUATTER, "$private/zone") or die "chown: $!";
$s = eval { zone_stats("$private/zone") };
is($s && $s->{totals}{seen}, 1, '  also group-writable: the directory '
   . 'says who could have made it');

finish(allow => [qr/is in "\Q$shm\E", which every local user may write/]);
