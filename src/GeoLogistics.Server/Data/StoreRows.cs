using System.Collections.Concurrent;
using System.Data.Common;
using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace GeoLogistics.Server.Data;

/// <summary>
/// For statements written by hand (the booking's <c>UPDATE … RETURNING *</c>): values in and rows out as EF Core
/// stores them, by the model's column names and value converters (SQLite keeps times as integers and enums as text),
/// so such a statement reads and writes exactly what the rest of the code does.
/// </summary>
public static class StoreRows
{
    private sealed record Column(string Name, PropertyInfo? Owner, PropertyInfo Target, Type ProviderType, ValueConverter? Converter);

    private static readonly ConcurrentDictionary<IEntityType, Column[]> Columns = new();

    /// <summary>A parameter holding <paramref name="value"/> as the store keeps it in <typeparamref name="TEntity"/>'s <paramref name="property"/>.</summary>
    public static void AddParameter<TEntity>(this DbCommand command, AppDb db, string name, string property, object? value)
    {
        var converter = db.Model.FindEntityType(typeof(TEntity))!.FindProperty(property)!.GetTypeMapping().Converter;
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value is null ? DBNull.Value : converter?.ConvertToProvider(value) ?? value;
        command.Parameters.Add(parameter);
    }

    /// <summary>The entity in the reader's current row, which has every column of its table (<c>RETURNING *</c>).</summary>
    public static TEntity ReadEntity<TEntity>(this DbDataReader reader, AppDb db) where TEntity : class, new()
    {
        var entity = new TEntity();
        foreach (var column in Columns.GetOrAdd(db.Model.FindEntityType(typeof(TEntity))!, Describe))
        {
            var ordinal = reader.GetOrdinal(column.Name);
            object? value = null;
            if (!reader.IsDBNull(ordinal))
            {
                var stored = Read(reader, ordinal, column.ProviderType);
                value = column.Converter is null ? stored : column.Converter.ConvertFromProvider(stored);
            }
            var target = column.Owner is null ? entity : column.Owner.GetValue(entity)!;
            column.Target.SetValue(target, value);
        }
        return entity;
    }

    private static Column[] Describe(IEntityType type)
    {
        var table = StoreObjectIdentifier.Table(type.GetTableName()!, type.GetSchema());
        Column Of(IProperty p, PropertyInfo? owner)
        {
            var converter = p.GetTypeMapping().Converter;
            var provider = converter?.ProviderClrType ?? p.ClrType;
            return new Column(p.GetColumnName(table)!, owner, p.PropertyInfo!, Nullable.GetUnderlyingType(provider) ?? provider, converter);
        }
        // Complex properties (an order's pickup and dropoff) are columns of the same row, set on the object the entity already holds.
        return
        [
            .. type.GetProperties().Where(p => p.PropertyInfo is not null).Select(p => Of(p, null)),
            .. type.GetComplexProperties().SelectMany(c => c.ComplexType.GetProperties().Select(p => Of(p, c.PropertyInfo))),
        ];
    }

    private static object Read(DbDataReader reader, int ordinal, Type type) => type switch
    {
        _ when type == typeof(Guid) => reader.GetGuid(ordinal),
        _ when type == typeof(string) => reader.GetString(ordinal),
        _ when type == typeof(int) => reader.GetInt32(ordinal),
        _ when type == typeof(long) => reader.GetInt64(ordinal),
        _ when type == typeof(double) => reader.GetDouble(ordinal),
        _ when type == typeof(bool) => reader.GetBoolean(ordinal),
        _ when type == typeof(DateTimeOffset) => reader.GetFieldValue<DateTimeOffset>(ordinal),
        _ when type == typeof(DateTime) => reader.GetDateTime(ordinal),
        _ => throw new NotSupportedException($"No reader for a column of type {type.Name}."),
    };
}
