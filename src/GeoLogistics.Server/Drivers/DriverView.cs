namespace GeoLogistics.Server.Drivers;

/// <summary>How much of a driver a caller sees (SPEC §2; who sees which: Orders/DriverVisibility, as it follows the orders).</summary>
public enum DriverView
{
    /// <summary>Everything: its order, position, phone. Admins, the driver itself, its own fleet's dispatchers, and whoever may see the order it serves.</summary>
    Whole,
    /// <summary>
    /// Another tenant's dispatcher looking at a platform driver, to assign it by hand: its name and whether it is free,
    /// and where it is only while it is free. Never its order, its route or its phone.
    /// </summary>
    Assignable,
}

/// <summary>A driver as one caller may see it.</summary>
public sealed record SeenDriver(Driver Driver, DriverView View);
