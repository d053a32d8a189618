using System.Globalization;

namespace GeoLogistics.Bench.Harness;

/// <summary>CPU and memory figures of local processes, from Linux's /proc.</summary>
public static class ProcFs
{
    /// <summary>USER_HZ: the unit of the times in /proc/PID/stat, 100 on every Linux ABI .NET runs on.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>
    /// The fields of /proc/PID/stat the bench uses (CPU is user + system time; system time, the kernel's work for the
    /// process, is also given alone); null when the process is gone or /proc is not there.
    /// </summary>
    public static (int ParentPid, double CpuSeconds, double KernelCpuSeconds, double ReapedChildrenCpuSeconds)? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // After "pid (comm) ": state is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            return ((int)Field(4), (Field(14) + Field(15)) / TicksPerSecond, Field(15) / TicksPerSecond, (Field(16) + Field(17)) / TicksPerSecond);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Peak resident set size (VmHWM) in KiB.</summary>
    public static long? PeakWorkingSetKiB(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// This process's soft limit of open files (children inherit it); null when /proc is not there. Each socket is one
    /// file on each end, so the bench and the server each need one per connection, plus a few hundred of their own.
    /// </summary>
    public static long? OpenFileLimit()
    {
        try
        {
            // "Max open files            20000                20000                files"
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var soft = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
            return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) ? limit : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// CPU seconds of a process and all its children so far, live or exited: PostgreSQL's postmaster reaps its
    /// backends, so their time is in its cutime and cstime once they are gone.
    /// </summary>
    public static double? TreeCpuSeconds(int rootPid)
    {
        if (Stat(rootPid) is not { } root)
        {
            return null;
        }
        var total = root.CpuSeconds + root.ReapedChildrenCpuSeconds;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) &&
                pid != rootPid && Stat(pid) is { } child && child.ParentPid == rootPid)
            {
                total += child.CpuSeconds;
            }
        }
        return total;
    }
}
